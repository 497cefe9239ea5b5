"""Triton kernel for `apply_token_bitmask_inplace` on GPU tensors.

One program per (row, block of columns): load the 32-bit words covering the block, test each
column's bit, store -inf where it is clear. Columns past the bitmask's coverage read word 0 and are
masked, which is how logits wider than the tokenizer (padding ids) are handled. Used by
`torch_kernels` for CUDA tensors when Triton imports; the torch-op path is the fallback. The same
kernel runs on CPU tensors under ``TRITON_INTERPRET=1`` (how the tests check it without a GPU).
"""
from __future__ import annotations

from typing import Any

import triton
import triton.language as tl

BLOCK = 1024


@triton.jit
def _apply_bitmask_kernel(logits_ptr, bitmask_ptr, rows_ptr, mask_rows_ptr, vocab, covered,
                          logits_stride, bitmask_stride, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(0)
    blk = tl.program_id(1)
    row = tl.load(rows_ptr + pid)
    mrow = tl.load(mask_rows_ptr + pid)
    offs = blk * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    inside = offs < covered
    words = tl.load(bitmask_ptr + mrow * bitmask_stride + offs // 32, mask=inside, other=0)
    allowed = ((words >> (offs % 32)) & 1) != 0
    tl.store(logits_ptr + row * logits_stride + offs, -float("inf"),
             mask=(offs < vocab) & (~allowed))


def apply_token_bitmask_inplace_triton(logits: Any, bitmask: Any, rows: Any, mask_rows: Any) -> None:
    """logits: 2-D float tensor (last dim contiguous); bitmask: int32 [n, words] on the same device;
    rows / mask_rows: int64 tensors pairing logits rows with bitmask rows."""
    n = rows.numel()
    if n == 0:
        return
    vocab = logits.shape[1]
    grid = (n, triton.cdiv(vocab, BLOCK))
    _apply_bitmask_kernel[grid](logits, bitmask, rows, mask_rows, vocab, bitmask.shape[1] * 32,
                                logits.stride(0), bitmask.stride(0), BLOCK_SIZE=BLOCK)
