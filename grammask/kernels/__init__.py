"""Bitmask helpers around the compiled kernels.

The bitmask format is the one inference engines use (vLLM, SGLang, xgrammar): int32
`[batch, ceil(vocab_size / 32)]`, bit `i % 32` of word `i // 32` set means token `i` is allowed."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BitmaskError
from . import _kernels

__all__ = ["_kernels", "allocate_token_bitmask", "apply_token_bitmask_inplace", "as_uint32_rows",
           "bitmask_words"]


def bitmask_words(vocab_size: int) -> int:
    """Words per bitmask row for `vocab_size` tokens."""
    return (vocab_size + 31) // 32


def allocate_token_bitmask(batch_size: int, vocab_size: int) -> np.ndarray:
    """A numpy int32 bitmask `[batch_size, ceil(vocab_size/32)]` with every token allowed
    (use `torch.from_numpy` to share it with torch without a copy)."""
    if batch_size < 1 or vocab_size < 1:
        raise BitmaskError(f"batch_size and vocab_size must be positive, got {batch_size}, "
                           f"{vocab_size}")
    return np.full((batch_size, bitmask_words(vocab_size)), -1, dtype=np.int32)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def as_uint32_rows(bitmask: Any, vocab_size: int) -> np.ndarray:
    """A writable uint32 `[batch, words]` view of `bitmask` (numpy array or CPU torch tensor),
    checking dtype, shape and layout so a wrong buffer is an error, never a silent mis-write."""
    if type(bitmask) is np.ndarray and bitmask.ndim == 2 and bitmask.dtype == np.int32 \
            and bitmask.shape[1] == bitmask_words(vocab_size) and bitmask.flags.c_contiguous \
            and bitmask.flags.writeable:
        return bitmask.view(np.uint32)  # the common case, checked in one expression
    if _is_torch(bitmask):
        if bitmask.device.type != "cpu":
            raise BitmaskError(f"bitmask must be on the CPU to be filled, got device "
                               f"{bitmask.device}; fill a CPU (pinned) bitmask and copy it with "
                               f".to(device, non_blocking=True)")
        bitmask = bitmask.numpy()
    if not isinstance(bitmask, np.ndarray):
        raise BitmaskError(f"bitmask must be a numpy array or torch tensor, got "
                           f"{type(bitmask).__name__}")
    if bitmask.dtype not in (np.int32, np.uint32):
        raise BitmaskError(f"bitmask dtype must be int32, got {bitmask.dtype}")
    if bitmask.ndim == 1:
        bitmask = bitmask.reshape(1, -1)
    words = bitmask_words(vocab_size)
    if bitmask.ndim != 2 or bitmask.shape[1] != words:
        raise BitmaskError(f"bitmask shape must be [batch, {words}] for vocab_size {vocab_size}, "
                           f"got {list(bitmask.shape)}")
    if not bitmask.flags.c_contiguous or not bitmask.flags.writeable:
        raise BitmaskError("bitmask must be C-contiguous and writable")
    return bitmask.view(np.uint32)


def apply_token_bitmask_inplace(logits: Any, bitmask: Any, indices: Any = None) -> None:
    """Set `logits[i, t] = -inf` for every token `t` whose bit is clear in `bitmask[i]`.

    logits: `[batch, vocab]` or `[vocab]`, numpy float32/float64 or a torch tensor (any float
    dtype, CPU or CUDA). Columns past the bitmask's coverage are masked (padding ids).
    indices: optional rows of `logits` to mask (bitmask row j applies to logits row indices[j]
    when the bitmask has one row per index, else bitmask row indices[j])."""
    if _is_torch(logits):
        from ..integrations.torch_kernels import apply_token_bitmask_inplace_torch
        apply_token_bitmask_inplace_torch(logits, bitmask, indices)
        return
    if not isinstance(logits, np.ndarray):
        raise BitmaskError(f"logits must be a numpy array or torch tensor, got "
                           f"{type(logits).__name__}")
    rows2d = logits if logits.ndim == 2 else logits.reshape(1, -1)
    if rows2d.ndim != 2 or rows2d.dtype not in (np.float32, np.float64):
        raise BitmaskError(f"logits must be float32/float64 [batch, vocab], got "
                           f"{logits.dtype} {list(logits.shape)}")
    if not rows2d.flags.c_contiguous:
        raise BitmaskError("logits must be C-contiguous")
    bm = np.asarray(bitmask) if not _is_torch(bitmask) else bitmask.cpu().numpy()
    bm = bm.reshape(1, -1) if bm.ndim == 1 else bm
    if bm.dtype not in (np.int32, np.uint32) or bm.ndim != 2:
        raise BitmaskError(f"bitmask must be int32 [batch, words], got {bm.dtype} {list(bm.shape)}")
    rows, mask_rows = _row_pairs(rows2d.shape[0], bm.shape[0], indices)
    _kernels.apply_bitmask(rows2d, np.ascontiguousarray(bm).view(np.uint32), rows, mask_rows)


def _row_pairs(n_logits: int, n_masks: int, indices: Any) -> tuple[np.ndarray, np.ndarray]:
    """(logits rows, bitmask rows) to pair up, validated against both batch sizes."""
    if indices is None:
        if n_logits != n_masks:
            raise BitmaskError(f"logits has {n_logits} rows but bitmask has {n_masks}; pass "
                               f"indices to select rows")
        rows = np.arange(n_logits, dtype=np.int64)
        return rows, rows
    rows = np.asarray(list(indices), dtype=np.int64).reshape(-1)
    mask_rows = np.arange(rows.size, dtype=np.int64) if n_masks == rows.size else rows
    if rows.size and (rows.min() < 0 or rows.max() >= n_logits or mask_rows.max() >= n_masks):
        raise BitmaskError(f"indices {rows.tolist()} out of range for {n_logits} logits rows "
                           f"and {n_masks} bitmask rows")
    return rows, mask_rows
