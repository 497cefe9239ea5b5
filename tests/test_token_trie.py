"""The flat vocabulary's derived arrays the CFG scan reads, against plain definitions."""
from __future__ import annotations

import numpy as np
import pytest

from grammask import TokenizerInfo
from grammask.mask_cache.token_trie import PLAIN_BUCKETS, build_token_trie


def small_trie(seed: int = 0, longest: int = 5, extra: frozenset[bytes] = frozenset()):
    """300 random words over 'abcd' of 1 to `longest` bytes, and the tokens `extra`."""
    rng = np.random.default_rng(seed)
    words = {bytes(rng.integers(97, 101, size=int(rng.integers(1, longest + 1))).tolist())
             for _ in range(300)} | extra
    vocab = sorted(words) + [None]
    info = TokenizerInfo(list(vocab), eos_token_ids=[len(vocab) - 1])
    return build_token_trie(info)


def test_subtree_skip_is_the_end_of_each_prefix_subtree() -> None:
    trie = small_trie()
    skip = trie.subtree_skip()
    toks = [bytes(trie.concat[trie.offsets[k]:trie.offsets[k + 1]]) for k in range(trie.num_tokens)]
    for k, tok in enumerate(toks):
        for d in range(len(tok)):
            end = k + 1
            while end < len(toks) and toks[end][:d + 1] == tok[:d + 1]:
                end += 1
            assert skip[trie.offsets[k] + d] == end, (tok, d)


def test_first_byte_masks_hold_exactly_the_tokens_of_each_first_byte() -> None:
    trie = small_trie(1)
    rows, every = trie.first_byte_masks()
    bits = np.unpackbits(rows.view(np.uint8), axis=1, bitorder="little")
    for k in range(trie.num_tokens):
        first = int(trie.concat[trie.offsets[k]])
        tid = int(trie.token_ids[k])
        assert bits[first, tid] and bits[:, tid].sum() == 1
    all_bits = np.unpackbits(every.view(np.uint8), bitorder="little")
    assert all_bits.sum() == trie.num_tokens


@pytest.mark.parametrize("limit", [0, 3, 4, 5, 9, 16, 40])
def test_plain_above_keeps_the_non_plain_and_the_longer_plain_tokens(limit: int) -> None:
    trie = small_trie(2, longest=20, extra=frozenset({b'a"', b'"', b'ab"c', b"\\n"}))
    sub, pos = trie.plain_above(limit)
    chars = trie.plain_chars()
    bucket = max((b for b in PLAIN_BUCKETS if b <= limit), default=0)
    if not bucket:
        assert sub is trie and pos is None
        return
    keep = (chars < 0) | (chars > bucket)
    assert sub.token_ids.tolist() == trie.token_ids[keep].tolist()
    assert sub.plain_chars().tolist() == chars[keep].tolist()
    assert np.array_equal(trie.concat[pos], sub.concat)
    assert np.array_equal(trie.suffix_links()[pos], sub.suffix_links())
    # every token the sub-trie leaves out is accepted unwalked by a scan with this limit
    assert ((chars[~keep] >= 0) & (chars[~keep] <= limit)).all()


@pytest.mark.parametrize("bucket", [0, 4, 8])
def test_charset_view_parts_hold_the_tokens_a_scan_must_walk(bucket: int) -> None:
    """A charset view over the set {a, b}: its masks hold the tokens spelled with the set by
    length, and `part(bucket)` the tokens starting with a byte of the set that leave it (or
    are longer than the bucket) -- everything else starting with a or b is decided unwalked."""
    trie = small_trie(3, longest=12, extra=frozenset({b"ab-", b"a\"", b"b c"}))
    bits = np.zeros(128, np.uint8)
    bits[[0x61, 0x62]] = 1
    view = trie.charset_view(np.packbits(bits, bitorder="little").tobytes())
    toks = [bytes(trie.concat[trie.offsets[k]:trie.offsets[k + 1]]) for k in range(trie.num_tokens)]
    inside = [all(c in b"ab" for c in t) for t in toks]
    assert view.chars.tolist() == [len(t) if ok else -1 if t[0] in b"ab" else -2
                                   for t, ok in zip(toks, inside)]
    for limit in (1, 3, 100):
        got = np.unpackbits(view.mask(limit).view(np.uint8), bitorder="little")
        want = {int(trie.token_ids[k]) for k, t in enumerate(toks) if inside[k] and len(t) <= limit}
        assert set(np.flatnonzero(got).tolist()) == want
    sub, pos, chars = view.part(bucket)
    keep = [k for k, t in enumerate(toks) if t[0] in b"ab" and (not inside[k] or (bucket and len(t) > bucket))]
    assert sub.token_ids.tolist() == trie.token_ids[keep].tolist()
    assert chars.tolist() == view.chars[keep].tolist()
    assert np.array_equal(trie.concat[pos], sub.concat)
    assert trie.charset_view(np.packbits(bits, bitorder="little").tobytes()) is view


def test_lexer_scan_refuses_inconsistent_parts() -> None:
    """The scan kernel checks what it is handed: part arrays of mismatched lengths, remapped
    positions outside the full trie and token ids outside the bitmask raise, never read out
    of range."""
    from grammask.kernels import _kernels
    from grammask.mask_cache.cfg_masks import _part
    trie = small_trie(4, longest=8)
    trans = np.full((1, 256), -1, np.int32)
    trans[0, [0x61, 0x62, 0x63]] = 0                  # 'd' ends the lexeme: straddlers
    emit = np.zeros(1, np.int32)
    acc = np.zeros((trie.vocab_size + 31) // 32, np.uint32)
    sub, pos = trie.plain_above(4)
    good = _part(sub, sub.plain_chars(), 0, pos)
    _kernels.lexer_scan([good], trans, emit, 0, trie.max_depth, trie.concat, acc.copy())
    bad_len = good[:6] + (good[6][:-1],) + good[7:]
    with pytest.raises(ValueError, match="inconsistent"):
        _kernels.lexer_scan([bad_len], trans, emit, 0, trie.max_depth, trie.concat, acc.copy())
    bad_pos = _part(sub, sub.plain_chars(), 0, pos + 10**6)
    with pytest.raises(ValueError, match="outside concat"):
        _kernels.lexer_scan([bad_pos], trans, emit, 0, trie.max_depth, trie.concat, acc.copy())
    with pytest.raises(IndexError, match="outside acc_words"):
        _kernels.lexer_scan([good], trans, emit, 0, trie.max_depth, trie.concat, acc[:1].copy())
    # a base scan (`cfg_masks.scan_over_base`): one part skipping the covered bytes, and
    # straddler arrays that agree with each other
    covered = np.ones(256, np.uint8)
    covered[0x61] = 0
    base = _kernels.lexer_scan([good], trans, emit, 0, trie.max_depth, trie.concat, acc.copy())
    over = _part(sub, sub.plain_chars(), 0, pos, skip_first=covered)
    arrays = (*base[1:], covered, trie.first_bytes())
    _kernels.lexer_scan([over], trans, emit, 0, trie.max_depth, trie.concat, acc.copy(), arrays)
    with pytest.raises(ValueError, match="one part that skips"):
        _kernels.lexer_scan([good], trans, emit, 0, trie.max_depth, trie.concat, acc.copy(),
                            arrays)
    with pytest.raises(ValueError, match="inconsistent"):
        _kernels.lexer_scan([over], trans, emit, 0, trie.max_depth, trie.concat, acc.copy(),
                            (*base[1:3], base[3][:-1], *base[4:], covered, trie.first_bytes()))
    with pytest.raises(IndexError, match="first-byte table"):
        _kernels.lexer_scan([over], trans, emit, 0, trie.max_depth, trie.concat, acc.copy(),
                            (*base[1:], covered, trie.first_bytes()[:1]))


@pytest.mark.parametrize("flagged", [0, 1, 5, 128, 129, 250, 256])
def test_first_byte_union_is_the_or_of_the_flagged_rows(flagged: int) -> None:
    """Each token has one first byte, so the rows are disjoint: the kernel ORs the flagged
    rows, or takes `every` minus the unflagged ones past 128 flags, and either way gets the
    tokens starting with a flagged byte (None when none is flagged)."""
    from grammask.kernels import _kernels
    rng = np.random.default_rng(flagged)
    words, tokens = 7, 7 * 32
    owner = rng.integers(0, 256, size=tokens)          # each token's first byte
    rows = np.zeros((256, words), np.uint32)
    for t, b in enumerate(owner):
        rows[b, t // 32] |= np.uint32(1 << (t % 32))
    every = np.bitwise_or.reduce(rows, axis=0)
    flags = np.zeros(256, np.uint8)
    flags[rng.choice(256, flagged, replace=False)] = 1
    got = _kernels.first_byte_union(flags, rows, every)
    if not flagged:
        assert got is None
    else:
        want = np.zeros(words, np.uint32)
        for t, b in enumerate(owner):
            if flags[b]:
                want[t // 32] |= np.uint32(1 << (t % 32))
        assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="first_byte_union"):
        _kernels.first_byte_union(flags[:255], rows, every)
