"""A frozen weight plus a trainable ΔW (LoRA or NOLA), with an exact merge for inference.

Works for nn.Linear (weight out×in), GPT-2's Conv1D (weight in×out, so ΔW is transposed) and
nn.Conv2d (kernel reshaped to a near-square matrix, Sec. 3.2.3 "training from scratch").
An optional output slice lets one fused matrix (GPT-2's c_attn = [Q|K|V]) adapt only Q and V.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


def near_square_shape(numel: int) -> tuple[int, int]:
    """(m, n) with m·n = numel and m the largest divisor ≤ √numel (so the matrix is as square as possible)."""
    m = int(math.isqrt(numel))
    while numel % m:
        m -= 1
    return m, numel // m


def weight_matrix_shape(module: nn.Module) -> tuple[int, int]:
    """(out, in) of the matrix ΔW must have for ``module``."""
    if isinstance(module, nn.Linear):
        return module.out_features, module.in_features
    if type(module).__name__ == "Conv1D":  # transformers' GPT-2 layer: weight is (in, out)
        return module.weight.shape[1], module.weight.shape[0]
    if isinstance(module, nn.Conv2d):
        return near_square_shape(module.weight.numel())
    raise TypeError(f"cannot adapt a {type(module).__name__}; LoRA/NOLA adapt nn.Linear, transformers Conv1D and nn.Conv2d.")


def delta_to_weight(delta: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """Lay the (out × in) ΔW out like ``module.weight``."""
    if type(module).__name__ == "Conv1D":
        return delta.t()
    return delta.reshape(module.weight.shape)


class AdaptedLayer(nn.Module):
    """``base`` with frozen weight W and trainable ΔW from ``deltas``: y = base(x) using W + ΔW.

    ``deltas`` maps an output slice (start, stop) of the (out × in) matrix to a delta module; a single
    entry ``(0, out)`` adapts the whole matrix.
    """

    def __init__(self, base: nn.Module, deltas: dict[tuple[int, int], nn.Module]):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.slices = list(deltas)
        self.deltas = nn.ModuleList(deltas.values())
        self.merged = False

    def delta_matrix(self) -> torch.Tensor:
        out, inp = weight_matrix_shape(self.base)
        if self.slices == [(0, out)]:  # the whole matrix: no concatenation (saves a copy per step)
            return self.deltas[0]()
        rows, covered = [], 0
        for (start, stop), d in zip(self.slices, self.deltas):
            if start > covered:
                rows.append(self.base.weight.new_zeros(start - covered, inp))
            rows.append(d())
            covered = stop
        if covered < out:
            rows.append(self.base.weight.new_zeros(out - covered, inp))
        return torch.cat(rows, 0)

    def delta_weight(self) -> torch.Tensor:
        return delta_to_weight(self.delta_matrix(), self.base)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        w = self.base.weight + self.delta_weight()
        b = self.base.bias
        if isinstance(self.base, nn.Linear):
            return F.linear(x, w, b)
        if isinstance(self.base, nn.Conv2d):
            return self.base._conv_forward(x, w, b)
        size_out = x.shape[:-1] + (w.shape[1],)  # GPT-2 Conv1D: x @ W + b
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(size_out)

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ΔW into W so inference costs exactly as much as the base layer."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    def num_params(self) -> int:
        return sum(d.num_params() for d in self.deltas)
