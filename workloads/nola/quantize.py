"""Coefficient quantization (dissertation Table 3.13): uniform b-bit quantization of α, β.

Post-training quantization (PTQ) rounds trained coefficients once; quantization-aware training
(QAT) rounds in every forward pass and passes the gradient straight through the rounding
(straight-through estimator), so training sees the quantized values. Table 3.13's "16-bit" row is
plain fp16 (Sec. 3.2.2: coefficients trained in FP16), not a 16-bit min-max code.
"""
from __future__ import annotations

import torch

MINMAX_BITS = range(1, 9)   # bits of the min-max quantizer; 16 means fp16


def quantize_uniform(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Round ``x`` onto 2**bits evenly spaced levels spanning [min(x), max(x)] (min-max quantizer)."""
    if not 1 <= bits <= 16:
        raise ValueError(f"quantization bits must be in 1..16 (the paper uses 2-8), got {bits}.")
    lo, hi = x.detach().min(), x.detach().max()
    levels = 2**bits - 1
    step = (hi - lo) / levels
    if float(step) == 0.0:  # constant tensor: already exactly representable
        return x.clone()
    return torch.round((x - lo) / step) * step + lo


def quantize_values(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Table 3.13's storage of ``x`` at ``bits``: fp16 for 16, the min-max quantizer for 1-8 (32: unchanged)."""
    if bits >= 32:
        return x.clone()
    if bits == 16:
        return x.to(torch.float16).to(x.dtype)
    if bits not in MINMAX_BITS:
        raise ValueError(f"quantization bits must be 1-8 (min-max codes), 16 (fp16) or 32, got {bits}.")
    return quantize_uniform(x, bits)


def quantize_ste(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantized value forward, identity gradient backward (STE): x + (q(x) - x).detach()."""
    return x + (quantize_values(x, bits) - x).detach()


def quantized_storage_bits(num_values: int, bits: int) -> int:
    """Bits to store one quantized vector of ``num_values``: fp16 values at 16 bits; otherwise the codes plus
    the float32 min and step of the vector's quantizer."""
    if bits >= 16:
        return num_values * bits
    return num_values * bits + 2 * 32
