"""The exact target distribution, by enumeration, and the distances used to compare samplers
with it.

Why: "does this sampler preserve the model's distribution?" is only answerable against the
truth. For a finite language (or a language truncated at ``max_tokens`` text tokens, which is
exactly what the samplers target: ``P_T(y | y in L, |y| <= max_tokens)``) the truth can be
enumerated: walk the matcher's allowed tokens breadth first, ask the model for every prefix's
next-token distribution (one batched call per chunk of a level), and record each complete
sequence's probability, its stop probability included.

The distribution is over *token sequences*, not strings: two tokenisations of one text are two
outcomes, as they are for the model and for every sampler here (they all sample token by
token). `string_distribution` folds sequences into strings when that view is wanted.

``min_prefix_prob`` > 0 prunes prefixes whose *unconstrained* model probability is below it
(for languages too large to enumerate); ``pruned_mass`` then bounds the target mass that was
left out (an upper bound: the pruned prefixes' total probability), and the reference is the
target restricted to the enumerated sequences.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .api import prepare_prompt
from .asap import ASApTrie, _make_node
from .constraint import Constraint
from .errors import SamplerError
from .lm import as_language_model
from .next_token import NextTokenCache

__all__ = [
    "ExactDistribution",
    "asap_distribution",
    "exact_distribution",
    "kl_divergence",
    "string_distribution",
    "total_variation",
]


@dataclass
class ExactDistribution:
    """sequences: every enumerated complete token sequence (text tokens, stop excluded).
    logp: its model log-probability, stop included. probs: the normalised target
    ``P(y | y in L, |y| <= max_tokens)``. log_z: ``log P(y in L, |y| <= max_tokens)`` (over the
    enumerated sequences). gcd_probs: GCD's own sampling distribution over the same sequences
    (conditioned on finishing within the cap, as `sample` does). pruned_mass: upper bound on
    the target mass left out by ``min_prefix_prob`` (0 when exhaustive). nodes: prefixes
    expanded. lm_queries: next-token distributions computed."""

    sequences: list[tuple[int, ...]]
    logp: np.ndarray
    probs: np.ndarray
    log_z: float
    gcd_probs: np.ndarray
    pruned_mass: float
    nodes: int
    lm_queries: int

    def as_dict(self) -> dict[tuple[int, ...], float]:
        return dict(zip(self.sequences, self.probs.tolist()))

    def gcd_dict(self) -> dict[tuple[int, ...], float]:
        return dict(zip(self.sequences, self.gcd_probs.tolist()))


def exact_distribution(lm: Any, compiled: Any, prompt: Any, max_tokens: int,
                       temperature: float = 1.0, *, tokenizer: Any = None,
                       min_prefix_prob: float = 0.0, max_nodes: int = 200_000,
                       length_aware: bool = False,
                       batch: int = 128, memo_bytes: int = 1 << 28) -> ExactDistribution:
    """Enumerate the target distribution (see the module docstring). Raises `SamplerError`
    when more than ``max_nodes`` prefixes would be expanded (lower ``max_tokens`` or raise
    ``min_prefix_prob``). ``length_aware`` skips prefixes that cannot finish within the cap
    (same distribution, fewer model calls; see `Constraint`); ``gcd_probs`` is then the
    distribution of length-aware GCD."""
    con = Constraint(compiled, max_tokens, length_aware)
    model = as_language_model(lm, tokenizer)
    prompt_ids = prepare_prompt(model, prompt, con.vocab_size)
    cache = NextTokenCache(model, prompt_ids, con.vocab_size, temperature, memo_bytes)
    seqs: list[tuple[int, ...]] = []
    logps: list[float] = []
    logqs: list[float] = []
    pruned = 0.0
    nodes = 0
    log_floor = math.log(min_prefix_prob) if min_prefix_prob > 0 else -math.inf
    # frontier entries: (prefix, matcher, log P(prefix), log Q_gcd(prefix))
    frontier: list[tuple[tuple[int, ...], Any, float, float]] = [((), con.new_matcher(), 0.0, 0.0)]
    for depth in range(max_tokens + 1):
        nxt: list[tuple[tuple[int, ...], Any, float, float]] = []
        for start in range(0, len(frontier), batch):
            chunk = frontier[start:start + batch]
            cache.prefetch([f[0] for f in chunk])
            for prefix, matcher, lp, lq in chunk:
                nodes += 1
                logp = cache.logprobs(prefix)
                ids, can_stop = con.allowed(matcher, depth)
                p_ids = np.exp(logp[ids])
                p_stop = float(np.exp(logp[con.eos_array]).sum()) if can_stop else 0.0
                allowed = p_stop + float(p_ids.sum())
                if allowed <= 0.0:
                    continue
                log_allowed = math.log(allowed)
                if p_stop > 0.0:
                    seqs.append(prefix)
                    logps.append(lp + math.log(p_stop))
                    logqs.append(lq + math.log(p_stop) - log_allowed)
                for t, pt in zip(ids.tolist(), p_ids.tolist()):
                    if pt <= 0.0:
                        continue
                    child_lp = lp + math.log(pt)
                    if child_lp < log_floor:
                        pruned += math.exp(child_lp)
                        continue
                    child = matcher.fork()
                    ok = child.accept_token(t)
                    assert ok, "mask and matcher disagree"
                    nxt.append((prefix + (t,), child, child_lp, lq + math.log(pt) - log_allowed))
                if len(nxt) + nodes > max_nodes:
                    raise SamplerError(
                        f"the language has more than {max_nodes} prefixes within max_tokens="
                        f"{max_tokens}; lower max_tokens, raise min_prefix_prob or max_nodes")
        frontier = nxt
        if not frontier:
            break
    if not seqs:
        raise SamplerError(f"no string of the language has positive probability within "
                           f"max_tokens={max_tokens}")
    lp_arr = np.asarray(logps)
    m = float(lp_arr.max())
    log_z = m + math.log(float(np.exp(lp_arr - m).sum()))
    probs = np.exp(lp_arr - log_z)
    lq_arr = np.asarray(logqs)
    q = np.exp(lq_arr - lq_arr.max())
    return ExactDistribution(seqs, lp_arr, probs / probs.sum(), log_z, q / q.sum(), pruned,
                             nodes, cache.lm_queries)


def asap_distribution(trie: ASApTrie, lm: Any, compiled: Any, prompt: Any,
                      sequences: list[tuple[int, ...]], *, tokenizer: Any = None,
                      length_aware: bool = False, memo_bytes: int = 1 << 28) -> np.ndarray:
    """The distribution ASAp's *next* sample is drawn from, given ``trie`` as it stands, over
    ``sequences`` (normally `ExactDistribution.sequences`), normalised over them.

    Why: the empirical KL of k samples mixes two things -- the sampler's bias and the noise of
    k draws (about (support - 1) / (2 k) even for an exact sampler). This is the noise-free
    view, the same kind of number as GCD's exact KL (`ExactDistribution.gcd_probs`): at a
    prefix in the trie a token's weight is ``P(t | w) B(w t)``; at a prefix not yet in the
    trie every bound is 1, i.e. the local GCD step. The trie is not modified."""
    if trie.key is None:
        raise SamplerError("this ASAp trie has not been used yet: sample with it first")
    con = Constraint(compiled, int(trie.key["max_tokens"]), length_aware)
    model = as_language_model(lm, tokenizer)
    prompt_ids = prepare_prompt(model, prompt, con.vocab_size)
    cache = NextTokenCache(model, prompt_ids, con.vocab_size, float(trie.key["temperature"]),
                           memo_bytes)
    scratch: dict[tuple[int, ...], Any] = {}
    logq = np.empty(len(sequences))
    for k, seq in enumerate(sequences):
        matcher = con.new_matcher()
        lq = 0.0
        for depth in range(len(seq) + 1):
            prefix = tuple(seq[:depth])
            node = trie.nodes.get(prefix) or scratch.get(prefix)
            if node is None:
                node = scratch[prefix] = _make_node(cache, con, matcher, prefix)
            total = node.bound                  # stop + sum(probs * cb), kept by refresh()
            if depth == len(seq):
                lq += math.log(node.stop / total) if node.stop > 0 and total > 0 else -math.inf
                break
            i = int(np.searchsorted(node.ids, seq[depth]))
            if i >= len(node.ids) or node.ids[i] != seq[depth] or total <= 0:
                lq = -math.inf
                break
            w = node.probs[i] * node.cb[i]
            lq += math.log(w / total) if w > 0 else -math.inf
            if not matcher.accept_token(int(seq[depth])):
                raise SamplerError(f"sequence {k} is not in the grammar's language")
        logq[k] = lq
    if not np.isfinite(logq).any():
        raise SamplerError("ASAp gives none of these sequences a positive probability")
    q = np.exp(logq - logq[np.isfinite(logq)].max())
    return q / q.sum()


def kl_divergence(p: Mapping[Any, float], q: Mapping[Any, float]) -> float:
    """``KL(p || q) = sum_y p(y) log(p(y) / q(y))`` over the support of ``p`` (inf when ``p``
    puts mass where ``q`` has none). For an empirical ``p`` against an exact ``q`` this is
    finite and decays like ``(support - 1) / (2 n)`` for an unbiased sampler."""
    total = 0.0
    for y, py in p.items():
        if py <= 0.0:
            continue
        qy = q.get(y, 0.0)
        if qy <= 0.0:
            return math.inf
        total += py * math.log(py / qy)
    return max(total, 0.0)


def total_variation(p: Mapping[Any, float], q: Mapping[Any, float]) -> float:
    """``(1/2) sum_y |p(y) - q(y)|``."""
    keys = set(p) | set(q)
    return 0.5 * sum(abs(p.get(y, 0.0) - q.get(y, 0.0)) for y in keys)


def string_distribution(dist: Mapping[tuple[int, ...], float],
                        decode: Any) -> dict[str, float]:
    """Fold a token-sequence distribution into a string distribution (``decode(ids) -> str``)."""
    out: dict[str, float] = defaultdict(float)
    for ids, p in dist.items():
        out[decode(list(ids))] += p
    return dict(out)
