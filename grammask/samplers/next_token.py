"""`NextTokenCache`: normalised, tempered next-token log-probabilities per generated prefix,
memoised.

Why: a sampler asks for the same prefix many times (every GCD/ASAp sample starts at the empty
prefix, SMC particles share prefixes, the exact enumeration revisits nothing but shares the
code path). The distribution after a prefix is deterministic, so it is computed once, in one
batched call for all the prefixes a step needs (`prefetch`), and kept under a byte budget
(least recently used entries go first).

Temperature: the target of every sampler is the *locally tempered* model
``P_T(y) = prod_t softmax(scores_t / T)[y_t]``; at T = 1 that is the model itself. All the
"exact" statements in this package (ASAp's convergence, SMC's target, the reference
distribution) are about ``P_T(y | y in grammar)``.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from .errors import SamplerError
from .lm import Ids, LanguageModel

__all__ = ["NextTokenCache"]


class NextTokenCache:
    """Next-token log-probabilities after ``prompt + prefix`` for one prompt and temperature.

    vocab_size: the grammar's vocabulary size; every score vector must have exactly this width
    (a model whose logits are wider or narrower than the tokenizer the grammar was compiled
    for is a configuration error, reported instead of silently truncated).
    max_bytes: memo budget (float64 vectors; V = 49,152 is 393 KB each)."""

    def __init__(self, lm: LanguageModel, prompt: Ids, vocab_size: int, temperature: float = 1.0,
                 max_bytes: int = 1 << 30) -> None:
        if not (temperature > 0 and np.isfinite(temperature)):
            raise SamplerError(f"temperature must be a positive finite number, got {temperature!r}")
        self.lm = lm
        self.prompt = tuple(prompt)
        self.vocab_size = vocab_size
        self.temperature = float(temperature)
        self.max_entries = max(16, int(max_bytes) // (16 * vocab_size))
        self._memo: OrderedDict[Ids, np.ndarray] = OrderedDict()
        self._cdf: OrderedDict[Ids, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.lm_queries = 0      # prefixes the model was asked about (memo misses)
        self.lm_batches = 0

    def _normalise(self, scores: np.ndarray) -> np.ndarray:
        x = np.asarray(scores, dtype=np.float64).reshape(-1)
        if x.shape[0] != self.vocab_size:
            raise SamplerError(
                f"the language model returned {x.shape[0]} scores but the grammar's tokenizer has "
                f"vocab_size {self.vocab_size}; compile the grammar with a TokenizerInfo sized to "
                f"the model's logits (TokenizerInfo(..., vocab_size=...))")
        if self.temperature != 1.0:
            x = x / self.temperature
        if np.isnan(x).any() or np.isposinf(x).any():
            raise SamplerError("the language model returned NaN or +inf scores")
        m = x.max()
        if not np.isfinite(m):
            raise SamplerError("the language model gave every token probability 0")
        z = m + np.log(np.exp(x - m).sum())
        out = x - z
        out.setflags(write=False)
        return out

    def prefetch(self, prefixes: Iterable[Ids]) -> None:
        """Compute every missing prefix in one model call."""
        missing = list(dict.fromkeys(p for p in prefixes if p not in self._memo))
        if not missing:
            return
        scores = self.lm.logprobs_batch(self.prompt, missing)
        self.lm_queries += len(missing)
        self.lm_batches += 1
        for p, s in zip(missing, scores):
            self._store(p, self._normalise(s))

    def _store(self, prefix: Ids, logp: np.ndarray) -> None:
        self._memo[prefix] = logp
        while len(self._memo) > self.max_entries:
            self._memo.popitem(last=False)

    def logprobs(self, prefix: Ids) -> np.ndarray:
        """Read-only float64 log-probabilities (sum of exp = 1) after ``prompt + prefix``."""
        got = self._memo.get(prefix)
        if got is None:
            self.prefetch([prefix])
            got = self._memo[prefix]
        else:
            self._memo.move_to_end(prefix)
        return got

    def probs_and_cdf(self, prefix: Ids, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities after ``prompt + prefix`` and their running sums over the vocabulary
        restricted to ``candidates`` (a bool mask that is fixed for one sampler run: the ids
        that can ever be allowed), for O(log V) draws by inverse transform. Memoised like the
        log-probabilities (they count against the same budget)."""
        got = self._cdf.get(prefix)
        if got is None:
            p = np.exp(self.logprobs(prefix))
            p.setflags(write=False)
            c = np.cumsum(np.where(candidates, p, 0.0))
            c.setflags(write=False)
            got = (p, c)
            self._cdf[prefix] = got
            while len(self._cdf) > max(8, self.max_entries // 2):
                self._cdf.popitem(last=False)
        else:
            self._cdf.move_to_end(prefix)
        return got
