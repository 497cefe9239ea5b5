"""Sequential Monte Carlo with AWRS proposals (and AWRS importance sampling = SMC that never
resamples).

Why: AWRS alone draws every token from the locally constrained distribution, so its samples
follow GCD's distribution; the product of its unbiased local-normaliser estimates is an
importance weight that corrects this towards ``P(y | y in L)``. SMC turns those weights into a
population that concentrates on good prefixes: ``n`` particles advance together one token per
step, each multiplies its weight by its AWRS estimate ``Z_hat`` (the incremental weight of the
proposal ``p(t) [t allowed] / Z`` for the target ``p(t) [t allowed]``), and when the effective
sample size ``1 / sum(w_i^2)`` of the normalised weights falls below ``ess_threshold * n``
the population is resampled (multinomial or systematic) and every weight set to the
population mean. Because each ``Z_hat`` is unbiased, the final mean weight is an unbiased
estimate of ``P(y in L)`` (its log is ``log_ml``), and the weighted particles are consistent
for ``P(y | y in L)`` as ``n`` grows.

Particles: a particle is (generated ids, a forked `Matcher`, log weight). Resampling copies a
particle by ``Matcher.fork()`` (a list copy). Its model state needs no copy: the next-token
distributions come from `NextTokenCache` by prefix, and `TransformersLM` keeps every prefix in
one tree-shaped KV cache, so a particle's "KV cache" is its path in that tree and duplicates
share it. Each step prefetches the distributions of all live particles' prefixes in one batched
model call.

Finished particles keep their weight and take part in resampling (a finished string is a
complete hypothesis). A particle that reaches ``max_tokens`` incomplete, or whose AWRS finds no
allowed token, gets weight 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..matcher import Matcher
from .awrs import MASK_AFTER, awrs_step
from .constraint import Constraint
from .next_token import NextTokenCache
from .result import SamplerStats

__all__ = ["Particle", "resample_indices", "run_smc"]


@dataclass
class Particle:
    tokens: tuple[int, ...]
    matcher: Matcher | None
    logw: float = 0.0
    logprob: float = 0.0
    done: bool = False
    alive: bool = True

    def copy(self) -> Particle:
        return Particle(self.tokens, None if self.matcher is None else self.matcher.fork(),
                        self.logw, self.logprob, self.done, self.alive)


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x)) if len(x) else -math.inf
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.exp(x - m).sum()))


def resample_indices(weights: np.ndarray, rng: np.random.Generator, scheme: str) -> np.ndarray:
    """Ancestor indices for ``len(weights)`` offspring drawn in proportion to ``weights``
    (normalised). ``systematic``: one uniform, stratified positions (lower variance);
    ``multinomial``: independent draws."""
    n = len(weights)
    cum = np.cumsum(weights)
    cum[-1] = 1.0
    if scheme == "systematic":
        u = (rng.random() + np.arange(n)) / n
    else:
        u = np.sort(rng.random(n))
    return np.minimum(np.searchsorted(cum, u, side="right"), n - 1)


def run_smc(cache: NextTokenCache, con: Constraint, n: int, rng: np.random.Generator,
            stats: SamplerStats, ess_threshold: float, resampling: str,
            mask_after: int = MASK_AFTER, adaptive: bool = True) -> tuple[list[Particle], float]:
    """Run SMC with ``n`` particles; return the particles and ``log_ml``."""
    first = con.new_matcher()
    particles = [Particle((), first.fork()) for _ in range(n)]
    while True:
        live = [p for p in particles if not p.done]
        if not live:
            break
        cache.prefetch({p.tokens for p in live})
        for p in live:
            depth = len(p.tokens)
            logp = cache.logprobs(p.tokens)
            stats.proposal_steps += 1
            assert p.matcher is not None
            if depth >= con.max_tokens:
                # only a stop token may follow: the local normaliser is exact, one check
                con.checks += 1
                z = float(np.exp(logp[con.eos_array]).sum()) if p.matcher.can_terminate() else 0.0
                tok = con.eos[0] if z > 0 else None
            else:
                matcher = p.matcher
                probs, cdf = cache.probs_and_cdf(p.tokens, con.candidates)
                draw = awrs_step(probs, cdf, con.candidates,
                                 lambda t, m=matcher, d=depth: con.check(m, t, d), rng,
                                 lambda m=matcher, d=depth: con.allowed_with_stop(m, d),
                                 mask_after, adaptive)
                if draw.masked:
                    stats.mask_fallbacks += 1
                tok, z = draw.token, draw.z_hat
            if tok is None or z <= 0.0:
                p.logw, p.done, p.alive, p.matcher = -math.inf, True, False, None
                continue
            p.logw += math.log(z)
            if con.is_eos(tok):
                p.logprob += math.log(float(np.exp(logp[con.eos_array]).sum()))
                p.done, p.matcher = True, None
            else:
                ok = p.matcher.accept_token(tok)
                assert ok, "check and matcher disagree"
                p.logprob += float(logp[tok])
                p.tokens = p.tokens + (tok,)
        if ess_threshold <= 0.0 or all(p.done for p in particles):
            continue
        lw = np.asarray([p.logw for p in particles])
        total = _logsumexp(lw)
        if not math.isfinite(total):
            break                                     # every particle died
        w = np.exp(lw - total)
        if 1.0 / float(np.dot(w, w)) < ess_threshold * n:
            stats.resamples += 1
            mean = total - math.log(n)
            idx = resample_indices(w, rng, resampling)
            particles = [particles[i].copy() for i in idx]
            for p in particles:
                p.logw = mean
    lw = np.asarray([p.logw for p in particles])
    return particles, _logsumexp(lw) - math.log(n)
