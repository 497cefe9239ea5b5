"""`apply_token_bitmask_inplace` for torch tensors on any device, with vectorised torch ops.

CPU float32/float64 tensors go through the compiled kernel on a shared-memory numpy view;
other dtypes (bfloat16, float16) and CUDA tensors unpack the bits with torch ops on the
tensor's own device, so no host round-trip is added on GPU."""
from __future__ import annotations

from typing import Any

from ..errors import BitmaskError


def apply_token_bitmask_inplace_torch(logits: Any, bitmask: Any, indices: Any = None) -> None:
    """See `grammask.apply_token_bitmask_inplace`."""
    import torch

    if not logits.is_floating_point():
        raise BitmaskError(f"logits must be a float tensor, got {logits.dtype}")
    bm = bitmask if isinstance(bitmask, torch.Tensor) else torch.from_numpy(bitmask)
    if bm.dtype not in (torch.int32,):
        raise BitmaskError(f"bitmask must be int32, got {bm.dtype}")
    if logits.device.type == "cpu" and logits.dtype in (torch.float32, torch.float64) \
            and logits.is_contiguous():
        from ..kernels import apply_token_bitmask_inplace
        apply_token_bitmask_inplace(logits.numpy(), bm.cpu().numpy(), indices)
        return
    view = logits if logits.dim() == 2 else logits.view(1, -1)
    bm2 = bm.view(1, -1) if bm.dim() == 1 else bm
    bm2 = bm2.to(view.device, non_blocking=True)
    if indices is None:
        if view.shape[0] != bm2.shape[0]:
            raise BitmaskError(f"logits has {view.shape[0]} rows but bitmask has {bm2.shape[0]}")
        rows = None
    else:
        rows = torch.as_tensor(list(indices), dtype=torch.long, device=view.device)
        if bm2.shape[0] != rows.numel():
            bm2 = bm2.index_select(0, rows)
    allowed = _unpack(bm2, view.shape[1])
    if rows is None:
        view.masked_fill_(~allowed, float("-inf"))
    else:
        sub = view.index_select(0, rows)
        sub.masked_fill_(~allowed, float("-inf"))
        view.index_copy_(0, rows, sub)


def _unpack(bitmask: Any, vocab: int) -> Any:
    """Bool `[batch, vocab]` from int32 bit words; columns past the bitmask are False."""
    import torch

    shifts = torch.arange(32, device=bitmask.device, dtype=torch.int32)
    bits = ((bitmask.unsqueeze(-1) >> shifts) & 1).bool().reshape(bitmask.shape[0], -1)
    if bits.shape[1] >= vocab:
        return bits[:, :vocab]
    pad = torch.zeros(bits.shape[0], vocab - bits.shape[1], dtype=torch.bool, device=bits.device)
    return torch.cat([bits, pad], dim=1)
