"""LoRA (Hu et al.; dissertation Eq. 3.1): W x + (c/r) B A x with A (r×in), B (out×r), B = 0 at init."""
from __future__ import annotations

import math

import torch
from torch import nn

from workloads.nola.quantize import quantize_ste, quantize_values


def lora_delta(a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """ΔW = scale · B A (Eq. 3.1), shape (out, in); scale = c / r."""
    return scale * (b @ a)


def lora_param_count(in_features: int, out_features: int, rank: int) -> int:
    """Trainable numbers of one LoRA-adapted matrix: r (in + out)."""
    return rank * (in_features + out_features)


class LoRADelta(nn.Module):
    """Trainable low-rank update ΔW = (c/r) B A of an (out × in) matrix."""

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float = 1.0):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}.")
        self.rank, self.scale = rank, alpha / rank
        self.a = nn.Parameter(torch.empty(rank, in_features))
        self.b = nn.Parameter(torch.zeros(out_features, rank))
        # Same initialisation as the LoRA reference code: Kaiming-uniform A, zero B, so ΔW = 0 at start.
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.qat_bits: int | None = None  # set for quantization-aware training (Table 3.13's LoRA rows)

    def forward(self) -> torch.Tensor:
        a, b = self.a, self.b
        if self.qat_bits is not None:
            a, b = quantize_ste(a, self.qat_bits), quantize_ste(b, self.qat_bits)
        return lora_delta(a, b, self.scale)

    @torch.no_grad()
    def quantize_(self, bits: int) -> None:
        """Post-training quantization of A and B in place (Table 3.13: LoRA's factors themselves are quantized;
        one quantizer per factor; 16 bits = fp16)."""
        self.a.copy_(quantize_values(self.a, bits))
        self.b.copy_(quantize_values(self.b, bits))

    def num_params(self) -> int:
        return self.a.numel() + self.b.numel()
