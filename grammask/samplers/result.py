"""`SampleResult`: what every sampler returns, in one shape, so the benchmark and users can
compare methods without knowing which one ran."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SampleResult", "SamplerStats"]


@dataclass
class SamplerStats:
    """Cost counters for one `sample` call.

    lm_queries: prefixes whose next-token distribution was computed (memo misses).
    mask_calls: full allowed-set computations. checks: single-token constraint checks (AWRS).
    proposal_steps: tokens drawn by AWRS proposals (one per particle per step, stop tokens
    included): ``checks / proposal_steps`` is AWRS's checks per token.
    mask_fallbacks: AWRS steps that met ``mask_after`` rejections and used the full allowed set
    (each also counted in mask_calls). lookahead_masks: allowed sets the ``length_aware``
    lookahead computed. attempts: samples started (GCD/ASAp restart a sample that
    hits the length cap incomplete; ``attempts - n`` of them were discarded). resamples: SMC
    resampling events."""

    lm_queries: int = 0
    mask_calls: int = 0
    checks: int = 0
    proposal_steps: int = 0
    mask_fallbacks: int = 0
    lookahead_masks: int = 0
    attempts: int = 0
    resamples: int = 0
    seconds: float = 0.0

    @property
    def checks_per_token(self) -> float:
        return self.checks / self.proposal_steps if self.proposal_steps else float("nan")


@dataclass
class SampleResult:
    """Samples from one method.

    texts / token_ids: one entry per sample (SMC: per particle); ``token_ids`` are the text
    tokens, the stop token excluded. logprobs: the model's own (tempered, unconstrained)
    log-probability of each sample, stop included: ``sum_t log P(y_t | y_<t) + log sum_e
    P(e | y)``. weights: normalised importance weights (SMC and AWRS; None for GCD/ASAp, whose
    samples are unweighted). log_ml: the log marginal-likelihood estimate ``log P(y in L)``
    under the tempered model (SMC and AWRS; unbiased in ``exp``). complete: False for an
    SMC/AWRS particle that died (weight 0). trie: the ASAp trie after this call (pass it to the
    next call to keep refining)."""

    method: str
    texts: list[str]
    token_ids: list[list[int]]
    logprobs: np.ndarray
    weights: np.ndarray | None = None
    log_ml: float | None = None
    complete: list[bool] = field(default_factory=list)
    ess: float | None = None
    trie: Any = None
    stats: SamplerStats = field(default_factory=SamplerStats)

    def __len__(self) -> int:
        return len(self.token_ids)

    def distribution(self) -> dict[tuple[int, ...], float]:
        """The empirical distribution over token sequences: weighted for SMC/AWRS, sample
        frequencies otherwise (dead particles carry no weight)."""
        out: Counter = Counter()
        if self.weights is None:
            for ids in self.token_ids:
                out[tuple(ids)] += 1.0 / len(self.token_ids)
        else:
            for ids, w in zip(self.token_ids, self.weights):
                if w > 0:
                    out[tuple(ids)] += float(w)
        return dict(out)
