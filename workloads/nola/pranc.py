"""PRANC (Nooralinejad et al.; dissertation Sec. 3.2 baseline): all weights θ = θ₀ + Σᵢ αᵢ vᵢ with
random vᵢ over the whole parameter vector.

The vᵢ have the size of the whole model. When k·D floats exceed ``cache_mb`` they are never stored:
the forward pass regenerates them chunk by chunk to build θ, and the backward pass regenerates them
again to form ∂L/∂αᵢ = ⟨vᵢ, ∂L/∂θ⟩. That regeneration is why PRANC is several times slower than NOLA
(Sec. 3.2.4: 4.7×). Below the budget the same vᵢ (same generator, same chunks) are drawn once and
kept on the device, so θ = α·V is one matrix product each way (on CPU regeneration cost ~1,000× NOLA's
step for a 203k-weight MLP with k = 1000).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from workloads.nola.bases import random_basis_chunk, random_bases


def _pranc_chunks(num: int, chunk: int):
    for c, start in enumerate(range(0, num, chunk)):
        yield c, start, min(chunk, num - start)


class _PrancCombine(torch.autograd.Function):
    """θ = Σᵢ αᵢ vᵢ with vᵢ regenerated in both passes (memory O(chunk · D) instead of O(k · D))."""

    @staticmethod
    def forward(ctx, alpha: torch.Tensor, seed: int, dim: int, chunk: int) -> torch.Tensor:
        ctx.seed, ctx.dim, ctx.chunk, ctx.k = seed, dim, chunk, alpha.shape[0]
        out = torch.zeros(dim, device=alpha.device, dtype=alpha.dtype)
        for c, start, n in _pranc_chunks(ctx.k, chunk):
            v = random_basis_chunk(seed, c, n, (dim,), dtype=alpha.dtype, device=alpha.device)
            out += alpha[start:start + n] @ v
        return out

    @staticmethod
    def backward(ctx, grad_theta: torch.Tensor):
        parts = []
        for c, _, n in _pranc_chunks(ctx.k, ctx.chunk):
            v = random_basis_chunk(ctx.seed, c, n, (ctx.dim,), dtype=grad_theta.dtype, device=grad_theta.device)
            parts.append(v @ grad_theta)
        return torch.cat(parts), None, None, None


def pranc_combine(alpha: torch.Tensor, seed: int, dim: int, chunk: int = 32) -> torch.Tensor:
    """Σᵢ αᵢ vᵢ ∈ R^dim for α (k,), with vᵢ ~ N(0, I) drawn from ``seed`` (see module docstring)."""
    return _PrancCombine.apply(alpha, seed, dim, chunk)


def _init_std(p: torch.Tensor) -> float:
    """Spread of a freshly initialised tensor; constant-initialised ones (BN γ/β) get 1/√numel."""
    std = float(p.detach().std()) if p.numel() > 1 else 0.0
    return std if std > 0 else 1.0 / p.numel() ** 0.5


class PRANCModel(nn.Module):
    """Wraps ``net``: its parameters become θ₀ + Σᵢ αᵢ vᵢ, with θ₀ the (frozen) initial weights.

    Only α (``num_bases`` numbers) is trained; the checkpoint is the seed, θ₀'s seed and α.
    """

    def __init__(self, net: nn.Module, num_bases: int, seed: int, chunk: int = 32, cache_mb: float = 1024.0):
        super().__init__()
        self.net, self.seed, self.chunk, self.cache_mb = net, seed, chunk, cache_mb
        self._basis: torch.Tensor | None = None  # (k, D) once drawn, when it fits in cache_mb
        self.names = [n for n, _ in net.named_parameters()]
        self.shapes = [p.shape for _, p in net.named_parameters()]
        theta0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
        for p in net.parameters():
            p.requires_grad_(False)
        self.register_buffer("theta0", theta0, persistent=False)
        # Each basis vector is scaled like a fresh initialisation of the network (per-tensor std), as
        # PRANC's bases are random networks; unit-variance vectors would swamp 1/√fan_in weights.
        scales = [torch.full((p.numel(),), _init_std(p)) for p in net.parameters()]
        self.register_buffer("basis_scale", torch.cat(scales), persistent=False)
        self.alpha = nn.Parameter(torch.zeros(num_bases))

    @property
    def dim(self) -> int:
        return self.theta0.numel()

    def basis_is_cached(self) -> bool:
        k = self.alpha.shape[0]
        return k * self.dim * self.alpha.element_size() <= self.cache_mb * 2**20

    def _combined(self) -> torch.Tensor:
        if not self.basis_is_cached():
            return pranc_combine(self.alpha, self.seed, self.dim, self.chunk)
        a = self.alpha
        if self._basis is None or self._basis.device != a.device or self._basis.dtype != a.dtype:
            # the same chunks of the same streams as the regenerating path
            self._basis = random_bases(self.seed, a.shape[0], (self.dim,), chunk=self.chunk, dtype=a.dtype,
                                       device=a.device)
        return a @ self._basis

    def weights(self) -> dict[str, torch.Tensor]:
        theta = self.theta0 + self.basis_scale * self._combined()
        out, offset = {}, 0
        for name, shape in zip(self.names, self.shapes):
            n = shape.numel()
            out[name] = theta[offset:offset + n].view(shape)
            offset += n
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.net, self.weights(), (x,))
