"""The mask interner stores each distinct mask once, in its smallest form, and finds an
existing one by comparing the stored form with the dense words in place."""
from __future__ import annotations

import numpy as np
import pytest

from grammask.kernels import _kernels, bitmask_words
from grammask.mask_cache.mask_store import KIND_ALLOW, KIND_DENSE, KIND_REJECT, MaskInterner


def _mask(vocab: int, ids: list[int]) -> np.ndarray:
    words = np.zeros(bitmask_words(vocab), dtype=np.uint32)
    _kernels.ids_to_mask(np.asarray(ids, dtype=np.int32), words)
    return words


@pytest.mark.parametrize("vocab", [1000, 1024, 1027])
def test_interning_finds_equal_masks_of_every_kind(vocab: int) -> None:
    rng = np.random.default_rng(vocab)
    interner = MaskInterner(vocab)
    cases = {
        KIND_ALLOW: sorted(rng.choice(vocab, 5, replace=False).tolist()),
        KIND_REJECT: sorted(set(range(vocab)) - set(rng.choice(vocab, 5, replace=False).tolist())),
        KIND_DENSE: sorted(rng.choice(vocab, vocab // 2, replace=False).tolist()),
    }
    for kind, ids in cases.items():
        words = _mask(vocab, ids)
        stored = interner.intern(words)
        assert stored.kind == kind
        assert np.array_equal(interner.densify(stored), words)
        assert interner.intern(words.copy()) is stored
    assert interner.count == 3


@pytest.mark.parametrize("kind_ids", ["allow", "reject", "dense"])
def test_in_place_comparison_sees_every_difference(kind_ids: str) -> None:
    vocab = 1027
    rng = np.random.default_rng(7)
    base = {"allow": [3, 40, 1026],
            "reject": sorted(set(range(vocab)) - {0, 31, 32, 1026}),
            "dense": sorted(rng.choice(vocab, 500, replace=False).tolist())}[kind_ids]
    interner = MaskInterner(vocab)
    words = _mask(vocab, base)
    stored = interner.intern(words)
    assert _kernels.stored_equals(stored.kind, stored.data, words, vocab)
    for t in (0, 31, 32, 500, 1026):           # one bit flipped anywhere
        other = words.copy()
        other[t >> 5] ^= np.uint32(1 << (t & 31))
        assert not _kernels.stored_equals(stored.kind, stored.data, other, vocab)
    stray = words.copy()                         # a bit past the vocabulary
    stray[-1] |= np.uint32(1 << 31)
    assert not _kernels.stored_equals(stored.kind, stored.data, stray, vocab)


@pytest.mark.parametrize("vocab", [1000, 1027])
def test_with_ids_adds_tokens_to_every_kind(vocab: int) -> None:
    """`with_ids` (a window's sure mask plus the deep tokens a real stack lets live) equals
    the dense union, whatever compact form the base mask has, and leaves the base alone."""
    rng = np.random.default_rng(vocab + 1)
    interner = MaskInterner(vocab)
    pool = rng.permutation(vocab)
    bases = {
        KIND_ALLOW: sorted(pool[:6].tolist()),
        KIND_REJECT: sorted(set(range(vocab)) - set(pool[:9].tolist())),
        KIND_DENSE: sorted(pool[: vocab // 2].tolist()),
    }
    for kind, ids in bases.items():
        stored = interner.intern(_mask(vocab, ids))
        assert stored.kind == kind
        before = interner.densify(stored).copy()
        outside = np.setdiff1d(np.arange(vocab), ids)
        extra = np.sort(rng.choice(outside, 3, replace=False)).astype(np.int32)
        grown = interner.with_ids(stored, extra)
        assert np.array_equal(interner.densify(grown), _mask(vocab, sorted(ids + extra.tolist())))
        assert grown.allowed == len(ids) + 3
        assert np.array_equal(interner.densify(stored), before)
