"""NOLA (dissertation Sec. 3.2.2, Eq. 3.2): ΔW = (c/r) (Σⱼ βⱼ Bⱼ)(Σᵢ αᵢ Aᵢ) with frozen random Aᵢ, Bⱼ.

Shapes follow torch's (out × in) convention: Aᵢ is (r × in), Bⱼ is (out × r), so the product plays the
role of LoRA's B A. Only α (k numbers) and β (l numbers) are trained; a checkpoint holds the seeds
and the coefficients.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from workloads.nola.bases import combine, random_bases
from workloads.nola.quantize import quantize_ste, quantize_uniform


def nola_delta(alpha: torch.Tensor, beta: torch.Tensor, bases_a: torch.Tensor, bases_b: torch.Tensor,
               scale: float) -> torch.Tensor:
    """ΔW = scale · (Σ βⱼ Bⱼ)(Σ αᵢ Aᵢ) (Eq. 3.2); bases_a (k, r, in), bases_b (l, out, r)."""
    return scale * (combine(beta, bases_b) @ combine(alpha, bases_a))


def nola_param_count(k: int, l: int) -> int:
    """Trainable numbers of one NOLA-adapted matrix: k + l (independent of its size and of r)."""
    return k + l


class BasisBank(nn.Module):
    """Frozen random bases A (k, r, in) and B (l, out, r) regenerated from ``seed``.

    Buffers are non-persistent: the state dict never carries them, only the seed (kept in
    ``extra_state``) does. One bank can be shared by all layers of equal shape (Table 3.11).
    """

    def __init__(self, seed: int, k: int, l: int, rank: int, out_features: int, in_features: int, chunk: int = 64):
        super().__init__()
        self.seed, self.k, self.l, self.rank, self.chunk = seed, k, l, rank, chunk
        self.shape = (out_features, in_features)
        # A and B come from distinct streams of the same seed so that they are independent.
        self.register_buffer("a", random_bases(2 * seed, k, (rank, in_features), chunk=chunk), persistent=False)
        self.register_buffer("b", random_bases(2 * seed + 1, l, (out_features, rank), chunk=chunk), persistent=False)

    def get_extra_state(self) -> dict:
        return {"seed": self.seed, "k": self.k, "l": self.l, "rank": self.rank, "chunk": self.chunk, "shape": self.shape}

    def set_extra_state(self, state: dict) -> None:
        mine = self.get_extra_state()
        theirs = {**state, "shape": tuple(state["shape"])}
        if theirs != mine:
            raise ValueError(f"NOLA checkpoint was saved with basis {theirs} but this model builds {mine}; "
                             "rebuild the model with the checkpoint's seed, k, l, rank and chunk.")


class NOLADelta(nn.Module):
    """Trainable ΔW of one (out × in) matrix from coefficients α (k) and β (l) over a ``BasisBank``."""

    def __init__(self, bank: BasisBank, alpha_scale: float = 1.0):
        super().__init__()
        self.bank = bank
        self.scale = alpha_scale / bank.rank
        # As in the authors' code: α uniform in ±1/√k, β = 0, so ΔW = 0 at start (the LoRA convention).
        bound = 1.0 / math.sqrt(bank.k)
        self.alpha = nn.Parameter(torch.empty(bank.k).uniform_(-bound, bound))
        self.beta = nn.Parameter(torch.zeros(bank.l))
        self.qat_bits: int | None = None  # set for quantization-aware training (Table 3.13)

    def forward(self) -> torch.Tensor:
        alpha, beta = self.alpha, self.beta
        if self.qat_bits is not None:
            alpha, beta = quantize_ste(alpha, self.qat_bits), quantize_ste(beta, self.qat_bits)
        return nola_delta(alpha, beta, self.bank.a, self.bank.b, self.scale)

    @torch.no_grad()
    def quantize_(self, bits: int) -> None:
        """Post-training quantization of α and β in place (Table 3.13, PTQ rows)."""
        self.alpha.copy_(quantize_uniform(self.alpha, bits))
        self.beta.copy_(quantize_uniform(self.beta, bits))

    def num_params(self) -> int:
        return self.alpha.numel() + self.beta.numel()
