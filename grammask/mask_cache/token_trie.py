"""The vocabulary in the flat form the mask kernels read, built once per tokenizer.

All TEXT tokens' bytes are concatenated (sorted, so tokens sharing a prefix sit together) with
offsets; each grammar then folds them into a `ClassTrie` over its own byte classes."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..tokenizer_info import TokenizerInfo

_CACHE_SIZE = 8
_cache: OrderedDict[str, "TokenTrie"] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class TokenTrie:
    """concat[offsets[k]:offsets[k+1]] are the bytes of token token_ids[k] (TEXT tokens only,
    sorted by bytes); `by_bytes` maps bytes to the first id spelling them."""

    concat: np.ndarray
    offsets: np.ndarray
    token_ids: np.ndarray
    max_depth: int
    vocab_size: int
    by_bytes: dict[bytes, int] = field(repr=False)
    _lazy: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_tokens(self) -> int:
        return int(self.token_ids.shape[0])

    def memory_bytes(self) -> int:
        return self.concat.nbytes + self.offsets.nbytes + self.token_ids.nbytes

    def suffix_links(self) -> np.ndarray:
        """int32 aligned with `concat`: at each byte position, the id of the token spelling the
        rest of that token (-1 if none). Built on first use (BPE vocabularies are closed under
        most suffixes, which lets the CFG masks reuse one mask for many tokens)."""
        found = self._lazy.get("suffix_links")
        if found is None:
            from ..kernels import _kernels
            found = _kernels.suffix_links(self.concat, self.offsets, self.token_ids)
            self._lazy["suffix_links"] = found
        return found

    def spans_by_id(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of every token id's bytes in `concat` (0, 0 for tokens without)."""
        found = self._lazy.get("span_start")
        if found is None:
            start = np.zeros(self.vocab_size, dtype=np.int64)
            end = np.zeros(self.vocab_size, dtype=np.int64)
            start[self.token_ids] = self.offsets[:-1]
            end[self.token_ids] = self.offsets[1:]
            self._lazy["span_start"], self._lazy["span_end"] = start, end
            found = start
        return found, self._lazy["span_end"]

    def first_byte_end(self) -> np.ndarray:
        """int64 [256]: for each first byte, the sorted index where its tokens end."""
        found = self._lazy.get("first_byte_end")
        if found is None:
            firsts = self.concat[self.offsets[:-1]] if self.num_tokens else np.zeros(0, np.uint8)
            found = np.searchsorted(firsts, np.arange(256), side="right").astype(np.int64)
            self._lazy["first_byte_end"] = found
        return found

    def lcps(self) -> np.ndarray:
        """int32 per sorted token: bytes shared with the previous token (built on first use)."""
        found = self._lazy.get("lcps")
        if found is None:
            from ..kernels import _kernels
            found = _kernels.lcp_with_previous(self.concat, self.offsets)
            self._lazy["lcps"] = found
        return found

    def by_id(self) -> tuple[np.ndarray, np.ndarray]:
        """(length, first byte) of every token id (0 and -1 for tokens without bytes)."""
        found = self._lazy.get("len_by_id")
        if found is None:
            lengths = np.zeros(self.vocab_size, dtype=np.int32)
            first = np.full(self.vocab_size, -1, dtype=np.int64)
            lengths[self.token_ids] = np.diff(self.offsets)
            nonempty = self.offsets[:-1] < self.offsets[1:]
            first[self.token_ids[nonempty]] = self.concat[self.offsets[:-1][nonempty]]
            self._lazy["len_by_id"], self._lazy["first_by_id"] = lengths, first
            found = lengths
        return found, self._lazy["first_by_id"]

    def longest_token_prefix(self, data: bytes) -> tuple[int, int]:
        """(token id, length) of the longest token that is a prefix of `data`, or (-1, 0)."""
        for n in range(min(len(data), self.max_depth), 0, -1):
            tid = self.by_bytes.get(data[:n])
            if tid is not None:
                return tid, n
        return -1, 0


def build_token_trie(tokenizer: TokenizerInfo) -> TokenTrie:
    """Build (or fetch from a small per-process cache) the flat vocabulary of `tokenizer`."""
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
    pairs = sorted((b, i) for i, b in enumerate(tokenizer.token_bytes) if b)
    lengths = np.fromiter((len(b) for b, _ in pairs), dtype=np.int64, count=len(pairs))
    offsets = np.zeros(len(pairs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    concat = np.frombuffer(b"".join(b for b, _ in pairs), dtype=np.uint8).copy()
    ids = np.fromiter((i for _, i in pairs), dtype=np.int32, count=len(pairs))
    by_bytes: dict[bytes, int] = {}
    for b, i in pairs:
        by_bytes.setdefault(b, i)
    max_depth = int(lengths.max()) if len(pairs) else 0
    return TokenTrie(concat, offsets, ids, max_depth, tokenizer.vocab_size, by_bytes)
