"""Absmax bit quantization baseline (Int16/Int8/Int4 in dissertation Table 3.2; Dettmers et al. absmax)."""
from __future__ import annotations

import torch


def absmax_quantize(x: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column symmetric quantization: q = round(x * (2^(b-1)-1) / max|x|) -> (int codes, scale per column).

    Dequantize with ``q * scale``. One scale per attribute column keeps e.g. positions and SH on their own ranges.
    """
    if bits < 2 or bits > 16:
        raise ValueError(f"absmax bit quantization needs 2..16 bits, got {bits} (the paper uses 16, 8 and 4)")
    qmax = 2 ** (bits - 1) - 1
    amax = x.abs().amax(0, keepdim=True)
    scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    q = torch.clamp(torch.round(x / scale), -qmax, qmax).to(torch.int32)
    return q, scale


def absmax_roundtrip(x: torch.Tensor, bits: int) -> torch.Tensor:
    """x after quantize + dequantize (what the renderer sees for an Int-b model)."""
    q, scale = absmax_quantize(x, bits)
    return q.to(x.dtype) * scale
