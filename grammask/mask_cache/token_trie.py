"""The vocabulary in the flat form the mask kernels read, built once per tokenizer.

All TEXT tokens' bytes are concatenated (sorted, so tokens sharing a prefix sit together) with
offsets; each grammar then folds them into a `ClassTrie` over its own byte classes."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..memo import memo_by_bytes
from ..tokenizer_info import TokenizerInfo

_CACHE_SIZE = 8
# plain-token length buckets with their own walked sub-trie (`TokenTrie.plain_above`): with
# Llama-3, a scan accepting plain tokens up to 4 / 8 / 16 characters unwalked walks 80k /
# 27k / 6.9k tokens instead of 128k (beyond 16 characters it is the 6.2k non-plain ones)
PLAIN_BUCKETS = (4, 6, 8, 12, 16)
# memory for views of other than the canonical charsets, per trie (`TokenTrie.charset_view`)
CHARSET_VIEW_BYTES = 64 << 20
# tokens of a charset longer than this are walked (the view keeps a mask per length)
CHARSET_LONGEST = 48
# an inexact charset run (its end still takes part of the set) of at least this many
# characters walks the set's tokens longer than it; shorter runs walk everything. One bucket
# keeps a view to at most two sub-tries.
CHARSET_BUCKET = 16
_cache: OrderedDict[str, TokenTrie] = OrderedDict()
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
    _lazy: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_tokens(self) -> int:
        return int(self.token_ids.shape[0])

    def memory_bytes(self) -> int:
        return self.concat.nbytes + self.offsets.nbytes + self.token_ids.nbytes

    def _derived(self, name: str, build: Callable[[TokenTrie], Any]) -> Any:
        """`build(self)`, computed on first use and kept: arrays only the CFG masks need."""
        found = self._lazy.get(name)
        if found is None:
            found = self._lazy[name] = build(self)
        return found

    def suffix_links(self) -> np.ndarray:
        """int32 aligned with `concat`: at each byte position, the id of the token spelling the
        rest of that token (-1 if none). BPE vocabularies are closed under most suffixes,
        which lets the CFG masks reuse one mask for many tokens."""
        return self._derived("suffix_links", _suffix_links)

    def spans_by_id(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of every token id's bytes in `concat` (0, 0 for tokens without)."""
        return self._derived("spans_by_id", _spans_by_id)

    def first_byte_end(self) -> np.ndarray:
        """int64 [256]: for each first byte, the sorted index where its tokens end."""
        return self._derived("first_byte_end", _first_byte_end)

    def first_byte_counts(self) -> np.ndarray:
        """int64 [256]: how many tokens start with each byte."""
        return self._derived("first_byte_counts",
                             lambda t: np.diff(t.first_byte_end(), prepend=0))

    def subtree_skip(self) -> np.ndarray:
        """int32 aligned with `concat`: where the subtree below each byte ends (scans skip a
        dead prefix's tokens at once)."""
        return self._derived("subtree_skip", _subtree_skip)

    def first_bytes(self) -> np.ndarray:
        """uint8 [vocab_size]: the first byte of each token id (0 for ids without bytes)."""
        return self._derived("first_bytes", _first_bytes)

    def first_byte_masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(uint32 [256, words]: per first byte the mask of this trie's tokens starting with
        it; uint32 [words]: all of its tokens). A scan decides tokens whose first byte ends
        the lexeme by that byte alone, so their mask is an OR of a few rows."""
        return self._derived("first_byte_masks", _first_byte_masks)

    def lcps(self) -> np.ndarray:
        """int32 per sorted token: bytes shared with the previous token."""
        return self._derived("lcps", _lcps)

    def non_plain(self) -> tuple[TokenTrie, np.ndarray]:
        """The trie of the tokens that are not plain text, and for each byte of its `concat`
        the position of that byte in this trie's `concat` (scans that accept every plain
        token walk only these, ~5% of a BPE vocabulary)."""
        return self._derived("non_plain", _non_plain)

    def plain_above(self, limit: int) -> tuple[TokenTrie, np.ndarray | None]:
        """The trie of the tokens a scan must walk when plain tokens of at most `limit`
        characters are accepted unwalked: the non-plain ones and the plain ones longer than
        a bucket at most `limit` (`PLAIN_BUCKETS`), with the positions as in `non_plain`;
        this trie itself (positions None) below the smallest bucket. A counted string's
        position that ends a chunk then walks a few thousand tokens, not the vocabulary."""
        bucket = max((b for b in PLAIN_BUCKETS if b <= limit), default=0)
        if not bucket:
            return self, None
        return self._derived(f"plain_above_{bucket}", lambda t: _sub_trie(
            t, np.flatnonzero((t.plain_chars() < 0) | (t.plain_chars() > bucket))))

    def plain_mask(self, limit: int) -> np.ndarray:
        """uint32 words: the plain tokens of at most `limit` characters (limits above the
        longest plain token share one mask)."""
        from .plain_runs import plain_masks
        masks = self._derived("plain_masks", plain_masks)
        return masks[min(limit, len(masks) - 1)]

    def charset_view(self, bits: bytes) -> CharsetView:
        """The tables of a charset run (`plain_runs.charset_run`) for the ASCII set `bits`
        (16 bytes: two little-endian uint64 words, bit b for byte b). The canonical sets'
        views (`plain_runs.CANONICAL_CHARSETS`, ~29 MB with Llama-3) are built together on
        the first request, with their exact sub-tries (~30 ms once per tokenizer and
        process, instead of 1-4 ms on the first mask of each set, spread over a run's
        tail); any other set's view is built on first use and kept (least recently used out
        first) within `CHARSET_VIEW_BYTES`."""
        canonical = self._derived("canonical_charset_views", _canonical_views)
        found = canonical.get(bits)
        if found is not None:
            return found  # type: ignore[no-any-return]
        build = self._derived("charset_views", lambda t: memo_by_bytes(
            CHARSET_VIEW_BYTES, CharsetView.memory_bytes)(lambda b: CharsetView.build(t, b)))
        return build(bits)  # type: ignore[no-any-return]

    def plain_chars(self) -> np.ndarray:
        """int32 per sorted token: its character count when it is plain text (valid UTF-8
        without quotes, backslashes or control characters), else -1 (`plain_runs`)."""
        from .plain_runs import token_plain_chars
        return self._derived("plain_chars", lambda t: token_plain_chars(
            [bytes(t.concat[t.offsets[k]:t.offsets[k + 1]]) for k in range(t.num_tokens)]))

    def longest_token_prefix(self, data: bytes) -> tuple[int, int]:
        """(token id, length) of the longest token that is a prefix of `data`, or (-1, 0)."""
        for n in range(min(len(data), self.max_depth), 0, -1):
            tid = self.by_bytes.get(data[:n])
            if tid is not None:
                return tid, n
        return -1, 0


def _suffix_links(trie: TokenTrie) -> np.ndarray:
    from ..kernels import _kernels
    return _kernels.suffix_links(trie.concat, trie.offsets, trie.token_ids)


def _lcps(trie: TokenTrie) -> np.ndarray:
    from ..kernels import _kernels
    return _kernels.lcp_with_previous(trie.concat, trie.offsets)


def _spans_by_id(trie: TokenTrie) -> tuple[np.ndarray, np.ndarray]:
    start = np.zeros(trie.vocab_size, dtype=np.int64)
    end = np.zeros(trie.vocab_size, dtype=np.int64)
    start[trie.token_ids] = trie.offsets[:-1]
    end[trie.token_ids] = trie.offsets[1:]
    return start, end


def _subtree_skip(trie: TokenTrie) -> np.ndarray:
    from ..kernels import _kernels
    return _kernels.subtree_skip(trie.concat, trie.offsets, trie.lcps())


def _first_byte_masks(trie: TokenTrie) -> tuple[np.ndarray, np.ndarray]:
    from ..kernels import _kernels, bitmask_words
    words = bitmask_words(trie.vocab_size)
    rows = np.zeros((256, words), dtype=np.uint32)
    ends = trie.first_byte_end()
    start = 0
    for b in range(256):
        end = int(ends[b])
        if end > start:
            _kernels.ids_to_mask(np.ascontiguousarray(trie.token_ids[start:end]), rows[b])
        start = end
    return rows, np.bitwise_or.reduce(rows, axis=0)


def _first_bytes(trie: TokenTrie) -> np.ndarray:
    out = np.zeros(trie.vocab_size, dtype=np.uint8)
    if trie.num_tokens:
        out[trie.token_ids] = trie.concat[trie.offsets[:-1]]
    return out


def _first_byte_end(trie: TokenTrie) -> np.ndarray:
    firsts = trie.concat[trie.offsets[:-1]] if trie.num_tokens else np.zeros(0, np.uint8)
    return np.searchsorted(firsts, np.arange(256), side="right").astype(np.int64)


def _canonical_views(trie: TokenTrie) -> dict[bytes, CharsetView]:
    from .plain_runs import CANONICAL_CHARSETS
    views = {bits: CharsetView.build(trie, bits) for bits in CANONICAL_CHARSETS}
    for view in views.values():
        view.part(0)
    return views


def _non_plain(trie: TokenTrie) -> tuple[TokenTrie, np.ndarray]:
    return _sub_trie(trie, np.flatnonzero(trie.plain_chars() < 0))


def _sub_trie(trie: TokenTrie, keep: np.ndarray) -> tuple[TokenTrie, np.ndarray]:
    """The trie of tokens `keep` (sorted indices) and each of its bytes' position in
    `trie.concat`; suffix links and plain character counts carried over."""
    starts, ends = trie.offsets[keep], trie.offsets[keep + 1]
    lengths = ends - starts
    offsets = np.zeros(keep.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    pos = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]), dtype=np.int64)
    sub = TokenTrie(np.ascontiguousarray(trie.concat[pos]), offsets,
                    np.ascontiguousarray(trie.token_ids[keep]),
                    int(lengths.max()) if keep.shape[0] else 0, trie.vocab_size, {})
    sub._lazy["suffix_links"] = np.ascontiguousarray(trie.suffix_links()[pos])
    sub._lazy["plain_chars"] = np.ascontiguousarray(trie.plain_chars()[keep])
    return sub, pos


class CharsetView:
    """A charset run's tables over one trie. Inside a pattern-restricted string (`[\\w-]{1,64}`,
    a `format`) a lexer state moves every byte of its charset alike, so a token spelled only
    with those bytes is decided by its length (`masks`): a scan walks the full trie minus the
    first bytes of the set (jumped) plus `part(bucket)`, the few tokens that start with a byte
    of the set and leave it (or are longer than the bucket), instead of every token starting
    with an allowed byte."""

    def __init__(self, table: np.ndarray, chars: np.ndarray, masks: list[np.ndarray],
                 trie: TokenTrie) -> None:
        self.table = table          # uint8 [256]: 1 for the set's bytes
        self.chars = chars          # int32 per sorted token: length inside the set, -1 leaving
        #                             it after a first byte in it, -2 not starting in it
        self.masks = masks          # masks[L]: the set's tokens of at most L bytes
        self._trie = trie
        self._parts: dict[int, tuple[TokenTrie, np.ndarray, np.ndarray]] = {}

    @classmethod
    def build(cls, trie: TokenTrie, bits: bytes) -> CharsetView:
        if len(bits) != 16:
            raise ValueError(f"charset bits must be 16 bytes, got {len(bits)}")
        from ..kernels import _kernels
        from .plain_runs import length_masks
        table = np.zeros(256, np.uint8)
        table[:128] = np.unpackbits(np.frombuffer(bits, np.uint8), bitorder="little")
        chars = _kernels.charset_chars(trie.concat, trie.offsets, trie.first_byte_end(), table,
                                       CHARSET_LONGEST)
        inside = np.flatnonzero(chars >= 0)
        masks = length_masks(chars[inside], trie.token_ids[inside], trie.vocab_size)
        return cls(table, chars, masks, trie)

    def mask(self, limit: int) -> np.ndarray:
        """uint32 words: the set's tokens of at most `limit` bytes."""
        return self.masks[min(limit, len(self.masks) - 1)]

    def part(self, bucket: int) -> tuple[TokenTrie, np.ndarray, np.ndarray]:
        """(sub-trie, positions in the full trie's concat, chars per sub-trie token) of the
        tokens starting with a byte of the set that a scan must walk: those leaving the set,
        and (`bucket` > 0) those of the set longer than `bucket` bytes."""
        found = self._parts.get(bucket)
        if found is None:
            t, chars = self._trie, self.chars
            keep = np.flatnonzero(chars == -1 if bucket <= 0 else (chars == -1) | (chars > bucket))
            sub, pos = _sub_trie(t, keep)
            found = self._parts[bucket] = (sub, pos, np.ascontiguousarray(chars[keep]))
        return found

    def memory_bytes(self) -> int:
        parts = sum(s.memory_bytes() + p.nbytes + c.nbytes for s, p, c in self._parts.values())
        return self.chars.nbytes + sum(m.nbytes for m in self.masks) + parts


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
