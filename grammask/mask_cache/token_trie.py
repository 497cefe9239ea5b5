"""The vocabulary as a flat byte trie, built once per tokenizer and shared by every grammar.

A mask is computed by walking this trie from an automaton state: a rejected byte drops the
whole subtree of tokens that share the prefix, so the walk visits far fewer nodes than the
vocabulary has bytes whenever the state is restrictive."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..kernels import _kernels
from ..tokenizer_info import TokenizerInfo

_CACHE_SIZE = 8
_cache: OrderedDict[str, "TokenTrie"] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class TokenTrie:
    """Pre-order node arrays of the trie of all TEXT tokens.

    node_byte[i]: the byte on the edge into node i; node_depth[i]: its depth (1 = first byte);
    node_end[i]: index just past its subtree; node_token[i]: a token whose bytes end here or -1;
    dup_src/dup_dst: tokens with identical bytes (dst allowed exactly when src is)."""

    node_byte: np.ndarray
    node_depth: np.ndarray
    node_end: np.ndarray
    node_token: np.ndarray
    dup_src: np.ndarray
    dup_dst: np.ndarray
    max_depth: int
    vocab_size: int

    @property
    def num_nodes(self) -> int:
        return int(self.node_byte.shape[0])

    def memory_bytes(self) -> int:
        return sum(a.nbytes for a in (self.node_byte, self.node_depth, self.node_end,
                                      self.node_token, self.dup_src, self.dup_dst))

    def walk_mask(self, trans: np.ndarray, state: int, out: np.ndarray) -> None:
        """OR into `out` (uint32 words) every token leading from `state` to a live state."""
        _kernels.trie_walk_mask(trans, state, self.node_byte, self.node_depth, self.node_end,
                                self.node_token, self.dup_src, self.dup_dst, out,
                                self.max_depth)

    def longest_token_prefix(self, data: bytes) -> tuple[int, int]:
        """(token id, length) of the longest token that is a prefix of `data`, or (-1, 0)."""
        best = (-1, 0)
        i, depth, n = 0, 0, self.num_nodes
        while i < n and depth < len(data):
            if self.node_depth[i] != depth + 1:
                break
            if self.node_byte[i] == data[depth]:
                depth += 1
                if self.node_token[i] >= 0:
                    best = (int(self.node_token[i]), depth)
                i += 1
            else:
                i = int(self.node_end[i])
        return best


def build_token_trie(tokenizer: TokenizerInfo) -> TokenTrie:
    """Build (or fetch from a small per-process cache) the trie of `tokenizer`'s TEXT tokens."""
    key = tokenizer.fingerprint
    with _cache_lock:
        trie = _cache.get(key)
        if trie is not None:
            _cache.move_to_end(key)
            return trie
    trie = _build(tokenizer)
    with _cache_lock:
        _cache[key] = trie
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return trie


def _build(tokenizer: TokenizerInfo) -> TokenTrie:
    pairs = [(b, i) for i, b in enumerate(tokenizer.token_bytes) if b]
    pairs.sort()
    total = sum(len(b) for b, _ in pairs)
    byte_, depth, end, token, dsrc, ddst = _kernels.build_trie(pairs, total)
    max_depth = int(depth.max()) if depth.size else 0
    return TokenTrie(byte_, depth, end, token, dsrc, ddst, max_depth, tokenizer.vocab_size)
