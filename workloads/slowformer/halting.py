"""A-ViT adaptive halting (Yin et al., 2022), as attacked in dissertation Section 4.1.3.2, Eq. 4.1.

Pure functions on per-layer halting scores ``h`` of shape (L, B, K): layer, image, token.
"""
from __future__ import annotations

import math

import torch


def halting_score(first_dim: torch.Tensor, gate_scale: float = 10.0, gate_center: float = 30.0) -> torch.Tensor:
    """h_k^l = sigmoid(γ·t_{k,1}^l − β): A-ViT reads the halting score off the first embedding dimension
    (no new parameters); the official model uses γ=10, β=30 so that h starts near 0 for a dense checkpoint."""
    return torch.sigmoid(gate_scale * first_dim - gate_center)


def halting_layers(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """N_k (1-based): the first layer at which the cumulative halting score reaches 1 − ε (Sec. 4.1.3.2).

    The last layer halts every token that is still running (A-ViT forces h^L = 1), so N_k ≤ L.
    Returns int64 of shape (B, K)."""
    crossed = torch.cumsum(h, dim=0) >= 1.0 - eps
    crossed[-1] = True
    # argmax returns the first maximal index, i.e. the first layer at which the threshold is crossed
    return crossed.to(torch.int8).argmax(dim=0).long() + 1


def active_masks(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Mask (L, B, K) of tokens that each layer computes: token k runs in layers 1..N_k and is dropped after."""
    n_k = halting_layers(h, eps)
    layer = torch.arange(1, h.shape[0] + 1, device=h.device).view(-1, 1, 1)
    return layer <= n_k.unsqueeze(0)


def remainders(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """r_k = 1 − Σ_{l<N_k} h_k^l (Eq. 4.1): the halting mass left at the halting layer, differentiable in h."""
    run = active_masks(h, eps)
    before = run & ~_halting_onehot(h, eps)
    return 1.0 - (h * before).sum(dim=0)


def _halting_onehot(h: torch.Tensor, eps: float) -> torch.Tensor:
    n_k = halting_layers(h, eps)
    layer = torch.arange(1, h.shape[0] + 1, device=h.device).view(-1, 1, 1)
    return layer == n_k.unsqueeze(0)


def ponder_loss(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """L_ponder = (1/K) Σ_k (N_k + r_k), averaged over the batch (Eq. 4.1). Only r_k carries a gradient."""
    n_k = halting_layers(h, eps).to(h.dtype)
    return (n_k + remainders(h, eps)).mean()


def act_weights(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """ACT weights (L, B, K) for the token's output: h_k^l before its halting layer and r_k at it, so each
    token's final state is a convex combination of the outputs of the layers it ran through (A-ViT)."""
    before = active_masks(h, eps) & ~_halting_onehot(h, eps)
    return h * before + remainders(h, eps).unsqueeze(0) * _halting_onehot(h, eps)


def gaussian_prior(num_layers: int, target_depth: float, std: float = 1.0) -> torch.Tensor:
    """Target halting distribution over layers: a normalised Gaussian centred on ``target_depth`` (1-based)."""
    layers = torch.arange(1, num_layers + 1, dtype=torch.float64)
    p = torch.exp(-0.5 * ((layers - target_depth) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    return (p / p.sum()).float()


def distribution_loss(h: torch.Tensor, prior: torch.Tensor, clamp: float = 0.01) -> torch.Tensor:
    """L_distr = KL(prior ‖ q), q the batch-and-token averaged halting score per layer, normalised over
    layers (A-ViT's distributional prior). Clamped away from 0 and 1 as the official code does, so log q is finite."""
    q = h.mean(dim=(1, 2))
    q = (q / q.sum().clamp_min(1e-12)).clamp(clamp, 1 - clamp)
    prior = prior.to(q)
    return (prior * (prior.clamp_min(1e-12).log() - q.log())).sum()


def tokens_per_layer(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Number of tokens each layer computes, per image: (B, L)."""
    return active_masks(h, eps).sum(dim=2).transpose(0, 1)
