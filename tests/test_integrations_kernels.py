"""Bitmask application on every torch path, against a plain reference: the compiled CPU kernel
(float32/64), the torch-op path (bfloat16/float16 on CPU here; the same code runs on CUDA) and
the Triton kernel (run by Triton's interpreter on CPU tensors, as no GPU is needed for that).
Logits wider than the bitmask's coverage and row selection with `indices` included."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from grammask import apply_token_bitmask_inplace
from grammask.integrations import torch_kernels


def _case(rng: np.random.Generator, batch: int, vocab: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    words = (vocab + 31) // 32
    bm = rng.integers(-2**31, 2**31 - 1, size=(batch, words), dtype=np.int64).astype(np.int32)
    bm[0, :] = -1                     # a row allowing everything (up to the coverage)
    logits = rng.standard_normal((batch, width)).astype(np.float32)
    return logits, bm


def _reference(logits: np.ndarray, bm: np.ndarray, rows: list[int], mask_rows: list[int]) -> np.ndarray:
    out = logits.copy()
    bits = np.unpackbits(bm.view(np.uint8), axis=1, bitorder="little").astype(bool)
    for r, m in zip(rows, mask_rows):
        allowed = np.zeros(out.shape[1], dtype=bool)
        n = min(out.shape[1], bits.shape[1])
        allowed[:n] = bits[m, :n]
        out[r, ~allowed] = -np.inf
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("width_extra", [0, 5, 77])
def test_torch_paths_mask_wider_logits(dtype: str, width_extra: int) -> None:
    rng = np.random.default_rng(width_extra)
    vocab = 1000                       # not a multiple of 32: the last word is partial
    logits, bm = _case(rng, 4, vocab, vocab + width_extra)
    t = torch.from_numpy(logits.copy()).to(getattr(torch, dtype))
    apply_token_bitmask_inplace(t, torch.from_numpy(bm))
    ref = _reference(t.float().numpy() if dtype != "float64" else logits, bm, [0, 1, 2, 3], [0, 1, 2, 3])
    got = t.float().numpy()
    assert np.array_equal(np.isinf(got), np.isinf(ref))
    assert np.isinf(got[:, vocab + (-vocab) % 32:]).all()          # past the coverage: masked


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_torch_indices(dtype: str) -> None:
    rng = np.random.default_rng(1)
    logits, bm = _case(rng, 5, 300, 310)
    # bitmask with one row per index
    t = torch.from_numpy(logits.copy()).to(getattr(torch, dtype))
    apply_token_bitmask_inplace(t, torch.from_numpy(bm[:2]), [3, 1])
    ref = _reference(t.float().numpy(), bm[:2], [3, 1], [0, 1])
    assert np.array_equal(np.isinf(t.float().numpy()), np.isinf(ref))
    # full-batch bitmask, rows picked by index
    t = torch.from_numpy(logits.copy()).to(getattr(torch, dtype))
    apply_token_bitmask_inplace(t, torch.from_numpy(bm), [4, 0])
    ref = _reference(t.float().numpy(), bm, [4, 0], [4, 0])
    assert np.array_equal(np.isinf(t.float().numpy()), np.isinf(ref))
    assert not np.isinf(t.float().numpy()[[1, 2, 3]]).any()


def test_torch_op_path_directly_on_float32() -> None:
    """The code CUDA tensors take without Triton, forced on a CPU float32 tensor (non-contiguous
    rows make it skip the compiled kernel)."""
    rng = np.random.default_rng(2)
    logits, bm = _case(rng, 3, 200, 230)
    big = torch.from_numpy(np.concatenate([logits, logits], axis=1))
    view = big[:, :230]                # non-contiguous
    assert not view.is_contiguous()
    torch_kernels.apply_token_bitmask_inplace_torch(view, torch.from_numpy(bm))
    ref = _reference(logits, bm, [0, 1, 2], [0, 1, 2])
    assert np.array_equal(np.isinf(view.numpy()), np.isinf(ref))
    assert not np.isinf(big[:, 230:].numpy()).any()


def test_rejects_bad_inputs() -> None:
    from grammask.errors import BitmaskError
    with pytest.raises(BitmaskError):
        apply_token_bitmask_inplace(torch.zeros(2, 64), torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(BitmaskError):
        apply_token_bitmask_inplace(torch.zeros(2, 64, dtype=torch.bfloat16), torch.zeros(3, 2, dtype=torch.int32))
    with pytest.raises(BitmaskError):
        apply_token_bitmask_inplace(torch.zeros(2, 64, dtype=torch.int32), torch.zeros(2, 2, dtype=torch.int32))


TRITON_SCRIPT = textwrap.dedent("""
    import numpy as np, torch
    from grammask.integrations.triton_kernels import apply_token_bitmask_inplace_triton
    rng = np.random.default_rng(0)
    for vocab, width, rows, mrows, nmask in [(1000, 1000, [0, 1, 2], [0, 1, 2], 3),
                                             (1000, 1100, [2, 0], [0, 1], 2),
                                             (70, 70, [1], [1], 3)]:
        words = (vocab + 31) // 32
        bm = rng.integers(-2**31, 2**31 - 1, size=(nmask, words), dtype=np.int64).astype(np.int32)
        logits = rng.standard_normal((3, width)).astype(np.float32)
        t = torch.from_numpy(logits.copy())
        apply_token_bitmask_inplace_triton(t, torch.from_numpy(bm), torch.tensor(rows), torch.tensor(mrows))
        bits = np.unpackbits(bm.view(np.uint8), axis=1, bitorder="little").astype(bool)
        ref = logits.copy()
        for r, m in zip(rows, mrows):
            allowed = np.zeros(width, dtype=bool)
            n = min(width, bits.shape[1])
            allowed[:n] = bits[m, :n]
            ref[r, ~allowed] = -np.inf
        assert np.array_equal(np.isinf(t.numpy()), np.isinf(ref)), (vocab, width)
        assert np.array_equal(t.numpy()[~np.isinf(ref)], logits[~np.isinf(ref)])
    print("TRITON_OK")
""")


def test_triton_kernel_under_the_interpreter() -> None:
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    res = subprocess.run([sys.executable, "-c", TRITON_SCRIPT], capture_output=True, text=True,
                         env=env, timeout=120)
    assert "TRITON_OK" in res.stdout, res.stderr[-3000:]
