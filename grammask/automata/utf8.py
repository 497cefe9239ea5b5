"""Code-point ranges -> UTF-8 byte-range sequences.

The regex compiler reasons about code points, but the automaton it hands out consumes bytes.
A code-point range is turned into a short list of *byte-range sequences*: each sequence is a
tuple of inclusive byte ranges, one per byte of the encoding, and a byte string encodes a code
point of the range exactly when it matches one sequence byte for byte. This is the standard
construction (Russ Cox's RE2 / Rust `regex-syntax` `Utf8Sequences`): split the range until
every piece (1) has one encoded length and (2) differs only in trailing bytes that span a full
continuation range, at which point the byte-wise ranges of its two endpoints describe it exactly.

The result only ever accepts well-formed UTF-8: no overlong forms, no surrogates
(U+D800..U+DFFF are removed first) and nothing above U+10FFFF.
"""
from __future__ import annotations

from functools import lru_cache

MAX_CODE_POINT = 0x10FFFF
SURROGATE_LO = 0xD800
SURROGATE_HI = 0xDFFF

ByteRange = tuple[int, int]
Utf8Sequence = tuple[ByteRange, ...]

# Last code point of each encoded length (1, 2, 3 bytes); 4-byte encodings run to U+10FFFF.
_LENGTH_LIMITS = (0x7F, 0x7FF, 0xFFFF)


def _without_surrogates(lo: int, hi: int) -> list[tuple[int, int]]:
    """Clip [lo, hi] to valid scalar values: surrogates have no UTF-8 encoding."""
    hi = min(hi, MAX_CODE_POINT)
    if lo > hi:
        return []
    if hi < SURROGATE_LO or lo > SURROGATE_HI:
        return [(lo, hi)]
    pieces = []
    if lo < SURROGATE_LO:
        pieces.append((lo, SURROGATE_LO - 1))
    if hi > SURROGATE_HI:
        pieces.append((SURROGATE_HI + 1, hi))
    return pieces


def _split_once(lo: int, hi: int) -> tuple[int, int, int, int] | None:
    """Return (lo, mid, mid + 1, hi) if [lo, hi] must be split before it can be encoded as
    one byte-range sequence, else None. Splits first by encoded length, then at the first
    continuation-byte boundary where the endpoints disagree on a prefix but do not cover the
    whole suffix range."""
    for limit in _LENGTH_LIMITS:
        if lo <= limit < hi:
            return lo, limit, limit + 1, hi
    if hi <= 0x7F:
        return None
    for i in range(1, 4):
        mask = (1 << (6 * i)) - 1
        if lo & ~mask != hi & ~mask:
            if lo & mask != 0:
                return lo, lo | mask, (lo | mask) + 1, hi
            if hi & mask != mask:
                return lo, (hi & ~mask) - 1, hi & ~mask, hi
    return None


def _sequence(lo: int, hi: int) -> Utf8Sequence:
    """Byte-wise ranges of two endpoints that need no further splitting."""
    a = chr(lo).encode("utf-8")
    b = chr(hi).encode("utf-8")
    return tuple(zip(a, b))


def utf8_sequences(lo: int, hi: int) -> list[Utf8Sequence]:
    """Byte-range sequences matching exactly the UTF-8 encodings of code points in [lo, hi].

    The sequences are disjoint and ordered by the code points they encode."""
    out: list[Utf8Sequence] = []
    stack = list(reversed(_without_surrogates(lo, hi)))
    while stack:
        a, b = stack.pop()
        split = _split_once(a, b)
        while split is not None:
            a, b, c, d = split
            stack.append((c, d))
            split = _split_once(a, b)
        out.append(_sequence(a, b))
    return out


@lru_cache(maxsize=4096)
def ranges_to_utf8(ranges: tuple[tuple[int, int], ...]) -> tuple[Utf8Sequence, ...]:
    """Sequences for a union of code-point ranges (cached: the same classes recur a lot,
    e.g. `[^"]` in every JSON string)."""
    out: list[Utf8Sequence] = []
    for lo, hi in ranges:
        out.extend(utf8_sequences(lo, hi))
    return tuple(out)
