"""ASAp: Adaptive Sampling with Approximate expected futures (Park et al., NeurIPS 2024,
"Grammar-Aligned Decoding").

Why: GCD samples token ``t`` after prefix ``w`` with probability proportional to
``P(t | w)``, but the exact conditional ``P(. | y in L)`` needs ``P(t | w) * EFG(w t)``, where
the *expected future grammaticality* ``EFG(w) = sum_{y : w y in L} P(y | w)`` is the chance that
the model, left alone after ``w``, produces a grammatical ending. EFG is intractable, but each
sample reveals part of it: every token the mask rejects along the sampled path is mass that is
certainly not grammatical.

The trie stores, for every prefix ``w`` ever sampled, the model's probabilities of the allowed
next tokens (disallowed ones have EFG 0) and an upper bound ``B(w t)`` on each child's EFG
(1 until the child is visited). Sampling uses ``P(t | w) B(w t)`` instead of ``P(t | w)``; after
a sample the bounds along its path are tightened bottom-up,
``B(w) = P(stop | w) [w in L] + sum_t P(t | w) B(w t)``, which is again an upper bound on
``EFG(w)`` and equals it once every path below ``w`` has been explored. The first sample is
exactly a GCD sample; as the trie fills, the sampling distribution converges to
``P(y | y in L)`` (the paper's Theorem).

The trie persists across calls for one (prompt, grammar, tokenizer, temperature, max_tokens):
pass the `ASApTrie` back in (or save it with `to_bytes` / `to_json` and load it with
`from_bytes` / `from_json`). A trie built for anything else is refused rather than silently
reused, because its probabilities and bounds would be wrong for the new target.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .constraint import Constraint
from .errors import SamplerError
from .gcd import draw_index
from .next_token import NextTokenCache
from .result import SamplerStats

__all__ = ["ASApTrie", "sample_asap", "trie_key"]

_FORMAT = "grammask-asap-trie/1"


@dataclass
class _Node:
    ids: np.ndarray       # allowed next text tokens, sorted (int64)
    probs: np.ndarray     # P(t | w) for those ids (float64)
    stop: float           # P(stop | w) if w is a complete string of L (and stopping is allowed), else 0
    cb: np.ndarray        # upper bounds B(w t) of the children's EFG, aligned with ids (1 = unvisited)
    bound: float          # B(w) = stop + sum(probs * cb)

    def refresh(self) -> None:
        self.bound = self.stop + float(np.dot(self.probs, self.cb))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def trie_key(prompt: tuple[int, ...], compiled: Any, temperature: float, max_tokens: int) -> dict:
    """What an ASAp trie is valid for: its probabilities depend on the prompt and temperature,
    its masks and bounds on the grammar, the tokenizer and the length cap."""
    source = getattr(compiled, "source", None) or getattr(compiled, "pattern", "")
    grammar = f"{type(compiled).__name__}:{getattr(compiled, 'kind', '')}:{source}"
    return {
        "prompt": _digest(np.asarray(prompt, dtype=np.int64).tobytes()),
        "grammar": _digest(grammar.encode("utf-8", "surrogatepass")),
        "tokenizer": compiled.tokenizer_info.fingerprint[:32],
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
    }


class ASApTrie:
    """The ASAp trie of sampled prefixes (see the module docstring).

    ``key`` (None for a fresh trie) names what it was built for; `sample` fills it in on first
    use and refuses a trie whose key differs. ``len(trie)`` is the number of prefixes stored;
    `efg_bound(prefix)` the current upper bound on a prefix's expected future grammaticality
    (1.0 for an unvisited prefix)."""

    def __init__(self) -> None:
        self.key: dict | None = None
        self.nodes: dict[tuple[int, ...], _Node] = {}
        self.samples = 0
        # prefix -> the lookahead width already applied to it (transient: not saved or
        # compared; a loaded trie looks again, which finds its children already there)
        self.looked: dict[tuple[int, ...], int] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ASApTrie) or self.key != other.key \
                or self.samples != other.samples or self.nodes.keys() != other.nodes.keys():
            return False
        for k, a in self.nodes.items():
            b = other.nodes[k]
            if a.stop != b.stop or a.bound != b.bound or not np.array_equal(a.ids, b.ids) \
                    or not np.array_equal(a.probs, b.probs) or not np.array_equal(a.cb, b.cb):
                return False
        return True

    def efg_bound(self, prefix: tuple[int, ...] = ()) -> float:
        node = self.nodes.get(tuple(prefix))
        return 1.0 if node is None else node.bound

    def bind(self, key: dict) -> None:
        """Adopt ``key`` (fresh trie) or check that it matches."""
        if self.key is None:
            self.key = dict(key)
            return
        diff = [k for k in key if self.key.get(k) != key[k]]
        if diff:
            raise SamplerError(f"this ASAp trie was built for another {', '.join(diff)} "
                               f"({', '.join(f'{k}={self.key.get(k)!r}' for k in diff)}); use a "
                               f"new ASApTrie() for this prompt/grammar/settings")

    # -- serialisation -------------------------------------------------------------------------
    def to_json(self) -> str:
        """JSON text; floats are written in Python's round-trip repr, so `from_json` restores
        the trie exactly."""
        nodes = [{"prefix": list(k), "ids": n.ids.tolist(), "probs": n.probs.tolist(),
                  "stop": n.stop, "cb": n.cb.tolist(), "bound": n.bound}
                 for k, n in self.nodes.items()]
        return json.dumps({"format": _FORMAT, "key": self.key, "samples": self.samples,
                           "nodes": nodes})

    @classmethod
    def from_json(cls, text: str | bytes) -> ASApTrie:
        try:
            data = json.loads(text)
            if data.get("format") != _FORMAT:
                raise SamplerError(f"not an ASAp trie (format {data.get('format')!r})")
            trie = cls()
            trie.key = data["key"]
            trie.samples = int(data["samples"])
            for n in data["nodes"]:
                trie.nodes[tuple(int(t) for t in n["prefix"])] = _Node(
                    np.asarray(n["ids"], dtype=np.int64), np.asarray(n["probs"], dtype=np.float64),
                    float(n["stop"]), np.asarray(n["cb"], dtype=np.float64), float(n["bound"]))
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, SamplerError):
                raise
            raise SamplerError(f"malformed ASAp trie JSON: {exc}") from exc
        return trie

    def to_bytes(self) -> bytes:
        """Compact binary form (an ``.npz`` archive of flat arrays; no pickle)."""
        keys = list(self.nodes)
        nodes = [self.nodes[k] for k in keys]
        lens = np.asarray([len(k) for k in keys], dtype=np.int64)
        sizes = np.asarray([len(n.ids) for n in nodes], dtype=np.int64)

        def cat(parts: list, dtype: Any) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype=dtype)

        meta = json.dumps({"format": _FORMAT, "key": self.key, "samples": self.samples})
        buf = io.BytesIO()
        np.savez_compressed(
            buf, meta=np.frombuffer(meta.encode(), dtype=np.uint8),
            prefix_len=lens, prefix=cat([np.asarray(k, dtype=np.int64) for k in keys], np.int64),
            size=sizes, ids=cat([n.ids for n in nodes], np.int64),
            probs=cat([n.probs for n in nodes], np.float64),
            cb=cat([n.cb for n in nodes], np.float64),
            stop=np.asarray([n.stop for n in nodes], dtype=np.float64),
            bound=np.asarray([n.bound for n in nodes], dtype=np.float64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ASApTrie:
        try:
            z = np.load(io.BytesIO(data), allow_pickle=False)
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("format") != _FORMAT:
                raise SamplerError(f"not an ASAp trie (format {meta.get('format')!r})")
            trie = cls()
            trie.key = meta["key"]
            trie.samples = int(meta["samples"])
            lens, prefix, sizes = z["prefix_len"], z["prefix"], z["size"]
            ids, probs, cb, stop, bound = z["ids"], z["probs"], z["cb"], z["stop"], z["bound"]
            po = np.concatenate([[0], np.cumsum(lens)])
            so = np.concatenate([[0], np.cumsum(sizes)])
            for i in range(len(lens)):
                trie.nodes[tuple(int(t) for t in prefix[po[i]:po[i + 1]])] = _Node(
                    ids[so[i]:so[i + 1]].copy(), probs[so[i]:so[i + 1]].copy(), float(stop[i]),
                    cb[so[i]:so[i + 1]].copy(), float(bound[i]))
        except (ValueError, KeyError, OSError, EOFError) as exc:
            if isinstance(exc, SamplerError):
                raise
            raise SamplerError(f"malformed ASAp trie bytes: {exc}") from exc
        return trie


def _make_node(cache: NextTokenCache, con: Constraint, matcher: Any,
               prefix: tuple[int, ...]) -> _Node:
    logp = cache.logprobs(prefix)
    ids, can_stop = con.allowed(matcher, len(prefix))
    probs = np.exp(logp[ids])
    stop = float(np.exp(logp[con.eos_array]).sum()) if can_stop else 0.0
    node = _Node(ids, probs, stop, np.ones(len(ids)), 0.0)
    node.refresh()
    return node


def _look_ahead(cache: NextTokenCache, con: Constraint, trie: ASApTrie, node: _Node,
                matcher: Any, prefix: tuple[int, ...], width: int) -> None:
    """Give the ``width`` likeliest unvisited children of ``node`` their one-step bound.

    Why: an unvisited child's bound is 1, but EFG(w t) is often tiny (under a GAD grammar the
    model alone is grammatical with probability ~1e-9), so plain ASAp spends its first hundreds
    of samples visiting children only to learn that. One model call at ``w t`` gives the bound
    ``B(w t) = P(stop | w t) [w t in L] + sum_{t' allowed} P(t' | w t)`` -- still an upper
    bound on EFG, so the convergence argument is unchanged -- at the cost of one batched model
    call per new node (the children are computed together)."""
    order = np.argsort(-node.probs, kind="stable")[:width]
    kids = [(int(i), prefix + (int(node.ids[i]),)) for i in order
            if prefix + (int(node.ids[i]),) not in trie.nodes]
    if not kids:
        return
    cache.prefetch([p for _, p in kids])
    for i, p in kids:
        child_matcher = matcher.fork()
        ok = child_matcher.accept_token(p[-1])
        assert ok, "mask and matcher disagree"
        child = _make_node(cache, con, child_matcher, p)
        trie.nodes[p] = child
        node.cb[i] = child.bound
    node.refresh()


def sample_asap(cache: NextTokenCache, con: Constraint, trie: ASApTrie, n: int,
                rng: np.random.Generator, stats: SamplerStats,
                max_attempts: int, lookahead: int = 0) -> tuple[list[list[int]], list[float]]:
    """``n`` ASAp samples, refining ``trie`` after each one (also after an attempt that hit a
    dead end at the length cap: that dead end's bound becomes 0, and the attempt is retried).
    ``lookahead`` > 0: every prefix on a sampled path first gives its ``lookahead`` likeliest
    unvisited children their one-step bound (`_look_ahead`)."""
    out_ids: list[list[int]] = []
    out_lp: list[float] = []
    while len(out_ids) < n:
        if stats.attempts >= max_attempts:
            raise SamplerError(f"ASAp: {stats.attempts} attempts gave only {len(out_ids)} samples "
                               f"within max_tokens={con.max_tokens}")
        root = trie.nodes.get(())
        if root is not None and root.bound <= 0.0:
            raise SamplerError("ASAp: the grammar has no string the model can produce within "
                               f"max_tokens={con.max_tokens} (expected grammaticality is 0)")
        stats.attempts += 1
        matcher = con.new_matcher()
        prefix: tuple[int, ...] = ()
        path: list[tuple[_Node, int]] = []        # (node, index of the token taken)
        lp = 0.0
        finished = False
        while True:
            node = trie.nodes.get(prefix)
            if node is None:
                node = _make_node(cache, con, matcher, prefix)
                trie.nodes[prefix] = node
            if lookahead > trie.looked.get(prefix, 0):
                _look_ahead(cache, con, trie, node, matcher, prefix, lookahead)
                trie.looked[prefix] = lookahead
            w = node.probs * node.cb
            rest = float(w.sum())
            total = node.stop + rest
            if total <= 0.0:
                break                                   # dead end: bound 0, backed up below
            if rng.random() * total < node.stop:
                lp += math.log(node.stop)
                finished = True
                break
            i = draw_index(rng, w, rest)
            tok = int(node.ids[i])
            ok = matcher.accept_token(tok)
            assert ok, "mask and matcher disagree"
            lp += math.log(node.probs[i])
            path.append((node, i))
            prefix = prefix + (tok,)
        # tighten the bounds bottom-up along the path
        child = trie.nodes[prefix]
        child.refresh()
        for node, i in reversed(path):
            node.cb[i] = child.bound
            node.refresh()
            child = node
        if finished:
            trie.samples += 1
            out_ids.append(list(prefix))
            out_lp.append(lp)
    return out_ids, out_lp
