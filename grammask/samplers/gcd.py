"""Grammar-constrained decoding (GCD): mask the disallowed tokens, renormalise, sample.

The baseline the other samplers correct. At each step it samples from
``P(t | w) [w t is a viable prefix] / sum(...)``, which ignores how much of the model's mass
*below* each allowed token is grammatical, so its samples follow
``Q(y) = prod_t P(y_t | y_<t) / Z_t(y_<t)`` instead of ``P(y | y in L) = P(y) / P(L)``: prefixes
whose continuations the model rarely completes grammatically are over-sampled (the bias ASAp
and SMC remove; `tests/test_samplers.py` reproduces it on a hand-computable model).
"""
from __future__ import annotations

import math

import numpy as np

from .constraint import Constraint
from .errors import SamplerError
from .next_token import NextTokenCache
from .result import SamplerStats

__all__ = ["draw_index", "sample_gcd"]


def draw_index(rng: np.random.Generator, weights: np.ndarray, total: float) -> int:
    """Index ``i`` with probability ``weights[i] / total`` (inverse transform; never an index
    of weight 0)."""
    cum = np.cumsum(weights)
    i = int(np.searchsorted(cum, rng.random() * total, side="right"))
    if i >= len(weights) or weights[i] <= 0:          # float edge at the very top
        i = int(np.flatnonzero(weights > 0)[-1])
    return i


def sample_gcd(cache: NextTokenCache, con: Constraint, n: int, rng: np.random.Generator,
               stats: SamplerStats, max_attempts: int) -> tuple[list[list[int]], list[float]]:
    """``n`` GCD samples (text token ids, model log-probabilities). A sample that reaches the
    length cap with an incomplete text is discarded and restarted (at most ``max_attempts``
    starts in all): GCD conditioned on finishing within ``max_tokens``."""
    out_ids: list[list[int]] = []
    out_lp: list[float] = []
    while len(out_ids) < n:
        if stats.attempts >= max_attempts:
            raise SamplerError(f"GCD: {stats.attempts} attempts gave only {len(out_ids)} complete "
                               f"samples within max_tokens={con.max_tokens}; raise max_tokens")
        stats.attempts += 1
        matcher = con.new_matcher()
        prefix: tuple[int, ...] = ()
        lp = 0.0
        while True:
            logp = cache.logprobs(prefix)
            ids, can_stop = con.allowed(matcher, len(prefix))
            p = np.exp(logp[ids])
            p_stop = float(np.exp(logp[con.eos_array]).sum()) if can_stop else 0.0
            total = p_stop + float(p.sum())
            if total <= 0.0:
                break                                    # dead end at the cap: restart
            u = rng.random() * total
            if u < p_stop:
                out_ids.append(list(prefix))
                out_lp.append(lp + math.log(p_stop))
                break
            i = draw_index(rng, p, float(p.sum()))
            tok = int(ids[i])
            ok = matcher.accept_token(tok)
            assert ok, "mask and matcher disagree"
            lp += float(logp[tok])
            prefix = prefix + (tok,)
    return out_ids, out_lp
