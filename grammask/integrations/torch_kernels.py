"""`apply_token_bitmask_inplace` for torch tensors on any device.

* CPU float32/float64 contiguous tensors: the compiled kernel on a shared-memory numpy view
  (a word-at-a-time loop, no temporaries).
* CUDA tensors: the Triton kernel (`triton_kernels`) when Triton imports, else torch ops.
* Everything else (bfloat16/float16 on CPU, other devices): torch ops on the tensor's own device —
  unpack the bits to a bool mask, `masked_fill_` -inf — so a GPU tensor never goes through the host.

Logits wider than the bitmask's coverage (model vocab > tokenizer: padding ids) get those columns
masked on every path. Rows pair up as in the numpy path: with `indices`, bitmask row j applies to
logits row indices[j] when the bitmask has one row per index, else bitmask row indices[j]."""
from __future__ import annotations

import os
from typing import Any

from ..errors import BitmaskError

_TRITON: Any = None     # the Triton entry point, False when unavailable, None before the first try


def _triton() -> Any:
    global _TRITON
    if _TRITON is None:
        if os.environ.get("GRAMMASK_DISABLE_TRITON"):
            _TRITON = False
        else:
            try:
                from .triton_kernels import apply_token_bitmask_inplace_triton
                _TRITON = apply_token_bitmask_inplace_triton
            except Exception:       # no triton, or no driver it can use
                _TRITON = False
    return _TRITON


def apply_token_bitmask_inplace_torch(logits: Any, bitmask: Any, indices: Any = None) -> None:
    """See `grammask.apply_token_bitmask_inplace`."""
    import torch

    if not logits.is_floating_point():
        raise BitmaskError(f"logits must be a float tensor, got {logits.dtype}")
    bm = bitmask if isinstance(bitmask, torch.Tensor) else torch.from_numpy(bitmask)
    if bm.dtype != torch.int32:
        raise BitmaskError(f"bitmask must be int32, got {bm.dtype}")
    if logits.device.type == "cpu" and logits.dtype in (torch.float32, torch.float64) \
            and logits.is_contiguous():
        from ..kernels import apply_token_bitmask_inplace
        apply_token_bitmask_inplace(logits.detach().numpy(), bm.cpu().numpy(), indices)
        return
    view = logits if logits.dim() == 2 else logits.view(1, -1)
    bm2 = bm.view(1, -1) if bm.dim() == 1 else bm
    bm2 = bm2.to(view.device, non_blocking=True)
    rows, mask_rows = _row_pairs(view.shape[0], bm2.shape[0], indices, view.device)
    if view.device.type == "cuda":
        kernel = _triton()
        if kernel and view.stride(1) == 1:
            kernel(view, bm2.contiguous(), rows, mask_rows)
            return
    allowed = _unpack(bm2.index_select(0, mask_rows), view.shape[1])
    if rows.numel() == view.shape[0] and bool((rows == torch.arange(view.shape[0], device=rows.device)).all()):
        view.masked_fill_(~allowed, float("-inf"))
    else:
        sub = view.index_select(0, rows)
        sub.masked_fill_(~allowed, float("-inf"))
        view.index_copy_(0, rows, sub)


def _row_pairs(n_logits: int, n_masks: int, indices: Any, device: Any) -> tuple[Any, Any]:
    """(logits rows, bitmask rows) as int64 tensors on `device`, checked against both sizes."""
    import torch

    if indices is None:
        if n_logits != n_masks:
            raise BitmaskError(f"logits has {n_logits} rows but bitmask has {n_masks}; pass "
                               f"indices to select rows")
        rows = torch.arange(n_logits, dtype=torch.long, device=device)
        return rows, rows
    rows = torch.as_tensor(list(indices), dtype=torch.long, device=device).reshape(-1)
    mask_rows = torch.arange(rows.numel(), dtype=torch.long, device=device) \
        if n_masks == rows.numel() else rows
    if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= n_logits
                         or int(mask_rows.max()) >= n_masks):
        raise BitmaskError(f"indices {rows.tolist()} out of range for {n_logits} logits rows "
                           f"and {n_masks} bitmask rows")
    return rows, mask_rows


def _unpack(bitmask: Any, vocab: int) -> Any:
    """Bool `[batch, vocab]` from int32 bit words; columns past the bitmask are False."""
    import torch

    shifts = torch.arange(32, device=bitmask.device, dtype=torch.int32)
    bits = ((bitmask.unsqueeze(-1) >> shifts) & 1).bool().reshape(bitmask.shape[0], -1)
    if bits.shape[1] >= vocab:
        return bits[:, :vocab]
    pad = torch.zeros(bits.shape[0], vocab - bits.shape[1], dtype=torch.bool, device=bits.device)
    return torch.cat([bits, pad], dim=1)
