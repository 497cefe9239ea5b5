"""apply_token_bitmask_inplace on numpy and torch against a plain reference."""
from __future__ import annotations

import numpy as np
import pytest

from grammask import BitmaskError, allocate_token_bitmask, apply_token_bitmask_inplace
from grammask.kernels import _kernels


def random_bitmask(rng: np.random.Generator, batch: int, vocab: int) -> np.ndarray:
    bm = allocate_token_bitmask(batch, vocab)
    bm[:] = rng.integers(-2**31, 2**31 - 1, size=bm.shape, dtype=np.int64).astype(np.int32)
    bm[0, :2] = -1  # an all-allowed stretch
    return bm


def reference(logits: np.ndarray, bm: np.ndarray) -> np.ndarray:
    out = logits.copy()
    bits = np.unpackbits(bm.view(np.uint8), bitorder="little").reshape(bm.shape[0], -1)
    v = logits.shape[1]
    allowed = np.zeros((bm.shape[0], v), dtype=bool)
    w = min(v, bits.shape[1])
    allowed[:, :w] = bits[:, :w].astype(bool)
    out[~allowed] = -np.inf
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("vocab", [1, 31, 32, 33, 1000])
def test_numpy(dtype: type, vocab: int) -> None:
    rng = np.random.default_rng(vocab)
    logits = rng.standard_normal((3, vocab)).astype(dtype)
    bm = random_bitmask(rng, 3, vocab)
    want = reference(logits, bm)
    apply_token_bitmask_inplace(logits, bm)
    assert np.array_equal(logits, want)


def test_logits_wider_than_bitmask_masks_padding() -> None:
    logits = np.zeros((1, 70), np.float32)
    bm = allocate_token_bitmask(1, 64)
    apply_token_bitmask_inplace(logits, bm)
    assert np.isfinite(logits[0, :64]).all() and np.isneginf(logits[0, 64:]).all()


def test_indices_and_errors() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 64)).astype(np.float32)
    bm = random_bitmask(rng, 2, 64)
    want = logits.copy()
    want[[1, 3]] = reference(logits[[1, 3]], bm)
    apply_token_bitmask_inplace(logits, bm, indices=[1, 3])
    assert np.array_equal(logits, want)
    with pytest.raises(BitmaskError):
        apply_token_bitmask_inplace(logits, bm)  # 4 rows vs 2 masks
    with pytest.raises(BitmaskError):
        apply_token_bitmask_inplace(logits, bm, indices=[7, 0])
    with pytest.raises(BitmaskError):
        apply_token_bitmask_inplace(np.zeros((4, 64), np.int32), bm, indices=[0, 1])
    with pytest.raises(BitmaskError):
        apply_token_bitmask_inplace([1.0, 2.0], bm)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_torch_cpu(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    base = rng.standard_normal((2, 100)).astype(np.float32)
    bm = random_bitmask(rng, 2, 100)
    want = reference(base, bm)
    logits = torch.from_numpy(base.copy()).to(getattr(torch, dtype))
    apply_token_bitmask_inplace(logits, torch.from_numpy(bm))
    got = logits.float().numpy()
    assert np.array_equal(np.isneginf(got), np.isneginf(want))
    finite = ~np.isneginf(want)
    assert np.allclose(got[finite], want[finite], atol=1e-2)


def test_torch_indices_1d() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    bm = random_bitmask(rng, 1, 40)
    logits = torch.zeros(40, dtype=torch.bfloat16)
    apply_token_bitmask_inplace(logits, bm)
    want = reference(np.zeros((1, 40), np.float32), bm)[0]
    assert np.array_equal(np.isneginf(logits.float().numpy()), np.isneginf(want))


def test_bits_at_reads_the_bits_of_given_ids():
    """`bits_at` equals a per-id reading of the mask (ids in any order, out of range False)."""
    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**32, 8, dtype=np.uint64).astype(np.uint32)
    ids = np.array([0, 5, 31, 32, 200, 255, 256, 1000, 7], np.int32)
    want = [i < 256 and bool(words[i >> 5] >> (i & 31) & 1) for i in ids.tolist()]
    assert _kernels.bits_at(words, ids).tolist() == want


@pytest.mark.parametrize("n", [0, 1, 2, 3, 8, 4009])
def test_popcount_and_any_bits_match_python(n: int) -> None:
    """The 64-bit popcount reads words in pairs (odd lengths and unaligned views included);
    `any_bits` sees a single set bit anywhere."""
    rng = np.random.default_rng(n)
    words = rng.integers(0, 2**32, n + 1, dtype=np.uint64).astype(np.uint32)
    for view in (words[:n], words[1:]):          # words[1:] starts 4 bytes into a buffer
        assert _kernels.popcount_words(view) == sum(int(w).bit_count() for w in view)
    zero = np.zeros(n, np.uint32)
    assert not _kernels.any_bits(zero)
    for i in range(0, n, max(1, n // 7)):
        zero[:] = 0
        zero[i] = 1 << (i % 32)
        assert _kernels.any_bits(zero)
    with pytest.raises(TypeError, match="any_bits"):
        _kernels.any_bits(np.zeros(4, np.float32))


def test_stored_equals_compares_every_kind() -> None:
    """A dense, allow-list and reject-list stored mask each equal exactly their own words."""
    from grammask.mask_cache.mask_store import MaskInterner

    vocab = 300
    interner = MaskInterner(vocab)
    for ids in ([3, 70, 299], list(range(vocab))[5:], list(range(0, vocab, 2))):
        words = np.zeros(interner.words, np.uint32)
        _kernels.ids_to_mask(np.array(ids, np.int32), words)
        stored = interner.intern(words)
        assert _kernels.stored_equals(stored.kind, stored.data, words, vocab)
        other = words.copy()
        other[1] ^= 1
        assert not _kernels.stored_equals(stored.kind, stored.data, other, vocab)
