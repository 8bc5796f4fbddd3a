"""Coefficient quantization (dissertation Table 3.13): uniform b-bit quantization of α, β.

Post-training quantization (PTQ) rounds trained coefficients once; quantization-aware training
(QAT) rounds in every forward pass and passes the gradient straight through the rounding
(straight-through estimator), so training sees the quantized values.
"""
from __future__ import annotations

import torch


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


def quantize_ste(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantized value forward, identity gradient backward (STE): x + (q(x) - x).detach()."""
    return x + (quantize_uniform(x, bits) - x).detach()


def quantized_storage_bits(num_values: int, bits: int) -> int:
    """Bits to store ``num_values`` codes plus the float32 min and step of the quantizer."""
    return num_values * bits + 2 * 32
