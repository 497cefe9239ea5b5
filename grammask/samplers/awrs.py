"""Adaptive weighted rejection sampling (AWRS; Lipkin et al. 2025, "Fast Controlled Generation
from Language Models with Adaptive Weighted Rejection Sampling").

Why: a full mask costs a pass over the vocabulary (or a memoised lookup that first needs that
pass), yet the model usually puts most of its mass on a handful of tokens, most of them
allowed. AWRS draws from the *unconstrained* next-token distribution ``p`` and asks the
grammar about the drawn token only. A rejected token is removed (sampling without
replacement), so the loop ends after at most as many checks as there are disallowed tokens
above the first allowed one, typically one or two. The first accepted token is an exact draw
from ``p`` restricted to the allowed set ``A`` (the same local distribution GCD uses).

The weighted variant also returns an unbiased estimate of the local normaliser
``Z = p(A)``, which SMC needs as the incremental importance weight. With ``x`` the accepted
token, ``R`` the mass still in play when ``x`` was drawn (1 minus the rejected mass), and ``y``
one more draw from what remains after ``x``:

    Z_hat = p(x) + [y is allowed] * (R - p(x))          (Z_hat = R when nothing remains)

This is the paper's recursive estimator, ``prod_i (1 - q_i) * (q_x + (1 - q_x) [y in A])`` with
``q_i`` the conditional probability of each rejected draw, written in closed form (the product
telescopes to ``R``). It is unbiased, ``E[Z_hat] = Z``, and properly weighted,
``E[Z_hat h(x)] = sum_{t in A} p(t) h(t)`` for every ``h`` (by induction over the rejections;
``tests/test_samplers.py`` checks both numerically). It costs one check more than plain
rejection sampling.

Drawing without replacement: inverse-transform draws on the cumulative distribution with the
rejected tokens' mass skipped (a fixed point over the sorted rejected ids, O(log V) per draw),
switching to an explicit Gumbel-top-k order of the remaining tokens (with exact suffix sums, so
no cancellation) after ``ORDER_AFTER`` rejections or when the remaining mass falls below
``EXACT_BELOW`` of the total.

Where the model puts little mass on allowed tokens (the first token of an answer that must
start with a digit, a non-canonical tokenisation), the paper's estimator is unbiased but
heavy-tailed: the one-draw tail ``[y allowed] * (R - p(x))`` is either 0 or far larger than
``Z`` (relative variance about ``R / Z``; measured on SmolLM2: a relative standard deviation of
7 at a step with ``Z = 0.005``), which starves SMC of effective particles. Two remedies, both
keeping the weights unbiased and properly weighted:

* the mask fallback: after ``mask_after`` checks the step asks for the full allowed set once and
  returns an exact draw with the exact ``Z`` (the exact value is its own unbiased estimate,
  whatever happened before), so a step never costs more than ``mask_after`` checks plus one
  mask;
* the *adaptive* weighted-set estimator (``adaptive=True``, `sample`'s default): after the
  first accept, keep walking while the accepted mass is below ``accept_ratio`` times the
  rejected mass (at most ``max_accepts`` accepts), then take one tail draw; see `_walk` for the
  estimator and why it is unbiased. On easy steps it costs what the paper's does (two checks);
  on hard ones it usually reaches the mask fallback, whose weight is exact (SmolLM2, same step:
  relative standard deviation 0.06).

Tokens that can never be allowed (padding, special ids other than the stop tokens) are removed
before sampling; their mass is known and simply not part of ``Z``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EXACT_BELOW", "MASK_AFTER", "ORDER_AFTER", "AwrsDraw", "awrs_step"]

EXACT_BELOW = 1e-6
ORDER_AFTER = 16
MASK_AFTER = 64


@dataclass
class AwrsDraw:
    """token: the accepted token (None when no candidate is allowed: weight 0).
    z_hat: unbiased estimate of the allowed mass. checks: constraint checks made.
    masked: True when the step fell back to the full allowed set (``z_hat`` is then exact)."""

    token: int | None
    z_hat: float
    checks: int
    masked: bool = False


class _Remaining:
    """Draws from ``p`` restricted to the candidates minus the removed tokens."""

    def __init__(self, p: np.ndarray, cdf: np.ndarray, candidates: np.ndarray,
                 rng: np.random.Generator) -> None:
        self.p = p
        self.cdf = cdf
        self.candidates = candidates
        self.rng = rng
        self.total = float(cdf[-1])
        self.removed: list[int] = []           # sorted ids
        self.removed_cum: list[float] = []     # running sums of their p, in id order
        self.removed_mass = 0.0
        self.order: np.ndarray | None = None   # exact phase: remaining ids in Gumbel order
        self.suffix: np.ndarray | None = None  # exact phase: mass of order[i:]
        self.pos = 0

    def mass(self) -> float:
        """Probability mass still in play."""
        if self.order is not None:
            return float(self.suffix[self.pos]) if self.pos < len(self.order) else 0.0
        return self.total - self.removed_mass

    def _enter_exact(self) -> None:
        keep = self.candidates & (self.p > 0)
        if self.removed:
            keep[np.asarray(self.removed, dtype=np.int64)] = False
        ids = np.flatnonzero(keep)
        keys = np.log(self.p[ids]) + self.rng.gumbel(size=len(ids))
        self.order = ids[np.argsort(-keys, kind="stable")]
        self.suffix = np.concatenate([np.cumsum(self.p[self.order][::-1])[::-1], [0.0]])
        self.pos = 0

    def peek(self) -> int | None:
        """A draw from the remaining mass (not removed yet); None when nothing remains."""
        if self.order is None:
            rem = self.total - self.removed_mass
            if rem > EXACT_BELOW * self.total and len(self.removed) < ORDER_AFTER:
                t = self._draw_cdf(rem)
                if t is not None:
                    return t
            self._enter_exact()
        assert self.order is not None
        return int(self.order[self.pos]) if self.pos < len(self.order) else None

    def _draw_cdf(self, rem: float) -> int | None:
        u = self.rng.random() * rem
        shift = 0.0
        n = len(self.cdf)
        while True:
            t = min(int(np.searchsorted(self.cdf, u + shift, side="right")), n - 1)
            k = _bisect_right(self.removed, t)
            new = self.removed_cum[k - 1] if k else 0.0
            if new == shift:
                break
            shift = new
        if self.p[t] <= 0 or not self.candidates[t] or \
                (self.removed and _bisect_right(self.removed, t) != _bisect_left(self.removed, t)):
            return None                         # float edge: let the exact phase decide
        return t

    def remove(self, t: int) -> None:
        """Take ``t`` (the last peeked token) out of play."""
        if self.order is not None:
            assert int(self.order[self.pos]) == t
            self.pos += 1
            return
        k = _bisect_right(self.removed, t)
        self.removed.insert(k, t)
        pt = float(self.p[t])
        self.removed_mass += pt
        self.removed_cum.insert(k, (self.removed_cum[k - 1] if k else 0.0) + pt)
        for j in range(k + 1, len(self.removed_cum)):
            self.removed_cum[j] += pt


def _bisect_right(a: list[int], x: int) -> int:
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _bisect_left(a: list[int], x: int) -> int:
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def awrs_step(p: np.ndarray, cdf: np.ndarray, candidates: np.ndarray,
              check: Callable[[int], bool], rng: np.random.Generator,
              allowed: Callable[[], np.ndarray] | None = None,
              mask_after: int = MASK_AFTER, adaptive: bool = False,
              max_accepts: int = 8, accept_ratio: float = 1.0) -> AwrsDraw:
    """One AWRS draw with its weight.

    p: next-token probabilities (float64, sums to 1). cdf: ``cumsum(p * candidates)``.
    candidates: bool mask of ids that can ever be allowed. check: ``token -> allowed?``.
    allowed: ``() -> ids`` of every allowed token, used after ``mask_after`` rejections (None:
    never; the loop then ends at the latest when every candidate was rejected).
    adaptive: False is the paper's recursive AWRS (the token is the first accepted one, an
    exact draw from the constrained distribution). True walks on after the first accept while
    the accepted mass is below ``accept_ratio`` times the rejected mass (at most
    ``max_accepts`` accepts) and returns a *weighted set* estimate (see `_walk`): much
    lower-variance weights where the allowed mass is small, for a few more checks; the token
    is then drawn from that set in proportion to its weights, which keeps the pair properly
    weighted but makes the token alone no longer an exact constrained draw."""
    rem = _Remaining(p, cdf, candidates, rng)
    if rem.total <= 0.0:
        return AwrsDraw(None, 0.0, 0)
    if adaptive:
        return _walk(p, rem, candidates, check, rng, allowed, mask_after, max_accepts,
                     accept_ratio)
    checks = 0
    while True:
        if allowed is not None and checks >= mask_after:
            return _exact(p, candidates, allowed(), (), rng, checks)
        x = rem.peek()
        if x is None:
            return AwrsDraw(None, 0.0, checks)
        checks += 1
        if check(x):
            before = rem.mass()
            px = float(p[x])
            rem.remove(x)
            y = rem.peek()
            if y is None or rem.mass() <= 0.0:
                return AwrsDraw(x, before, checks)
            checks += 1
            z = before if check(y) else px
            return AwrsDraw(x, z, checks)
        rem.remove(x)


def _exact(p: np.ndarray, candidates: np.ndarray, allowed_ids: np.ndarray,
           found: Sequence[int], rng: np.random.Generator, checks: int) -> AwrsDraw:
    """The mask fallback: every allowed token with its exact mass (``found`` are tokens the
    walk already accepted; they are in ``allowed_ids`` too)."""
    ids = np.asarray(allowed_ids, dtype=np.int64)
    ids = ids[candidates[ids]]
    w = p[ids]
    z = float(w.sum())
    if z <= 0.0:
        return AwrsDraw(None, 0.0, checks, True)
    cum = np.cumsum(w)
    i = min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(ids) - 1)
    while w[i] <= 0.0:
        i -= 1
    return AwrsDraw(int(ids[i]), z, checks, True)


def _walk(p: np.ndarray, rem: _Remaining, candidates: np.ndarray, check: Callable[[int], bool],
          rng: np.random.Generator, allowed: Callable[[], np.ndarray] | None, mask_after: int,
          max_accepts: int, accept_ratio: float) -> AwrsDraw:
    """Weighted-set AWRS with an adaptive stop. Walk the without-replacement order
    ``x_1, x_2, ...``; stop once some token was accepted and either ``max_accepts`` were, or the
    accepted mass ``A`` reaches ``accept_ratio`` times the rejected mass; then draw one more
    ``y`` from what remains (mass ``R``). The set is every accepted ``x_i`` with weight
    ``p(x_i)`` plus ``y`` with weight ``R`` if ``y`` is allowed; ``Z_hat`` is its total weight.

    Why unbiased: for the remaining set ``S`` and any draw ``x`` from it,
    ``Z(S) = p(x) [x allowed] + Z(S - x)`` exactly, and ``R [y allowed]`` is an unbiased
    one-draw estimate of ``Z(S)``; a stopping rule that only looks at the past keeps every
    level unbiased, and the same identity with ``h(t)`` inserted shows that
    ``E[sum_set w h(t)] = sum_{t allowed} p(t) h(t)`` for every ``h``, so drawing the token in
    proportion to the weights is properly weighted (genlm-control's set samplers rely on the
    same fact).

    Why adaptive: the one-draw tail ``R [y allowed]`` is what makes the paper's estimator
    noisy when the allowed mass is small next to ``R`` (its relative variance is about
    ``R / Z``). Walking on while the accepted mass is small next to the rejected mass, and
    taking the exact mask after ``mask_after`` checks, removes exactly those cases."""
    checks = 0
    found: list[tuple[int, float]] = []
    acc = rej = 0.0
    while True:
        if allowed is not None and checks >= mask_after:
            return _exact(p, candidates, allowed(), [t for t, _ in found], rng, checks)
        x = rem.peek()
        if x is None:
            break
        checks += 1
        px = float(p[x])
        if check(x):
            found.append((x, px))
            acc += px
        else:
            rej += px
        rem.remove(x)
        if found and (len(found) >= max_accepts or acc >= accept_ratio * rej):
            y = rem.peek()
            r = rem.mass()
            if y is not None and r > 0.0:
                checks += 1
                if check(y):
                    found.append((y, r))
            break
    if not found:
        return AwrsDraw(None, 0.0, checks)
    w = np.asarray([f[1] for f in found])
    z = float(w.sum())
    cum = np.cumsum(w)
    i = min(int(np.searchsorted(cum, rng.random() * z, side="right")), len(found) - 1)
    return AwrsDraw(found[i][0], z, checks)
