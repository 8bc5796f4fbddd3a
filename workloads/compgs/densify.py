"""3DGS adaptive density control: clone, split and prune (used by 3DGS and CompGS training, Sec. 3.1).

Gaussians whose mean view-space positional gradient exceeds ``grad_threshold`` are densified: small ones
(max scale <= percent_dense * scene_extent) are cloned, large ones are split into two samples drawn from
the Gaussian with scales divided by 1.6. Gaussians with opacity below ``min_opacity`` are pruned.
"""
from __future__ import annotations

import torch

SPLIT_SCALE_DIVISOR = 1.6  # 3DGS value: two children cover roughly the parent's extent


def densify_masks(grad_norm: torch.Tensor, log_scales: torch.Tensor, grad_threshold: float,
                  percent_dense: float, scene_extent: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(clone_mask, split_mask) over Gaussians."""
    hot = grad_norm >= grad_threshold
    big = torch.exp(log_scales).amax(1) > percent_dense * scene_extent
    return hot & ~big, hot & big


def split_children(means: torch.Tensor, log_scales: torch.Tensor, rotmats: torch.Tensor,
                   generator: torch.Generator | None = None, n_children: int = 2):
    """Child means sampled from N(mu, R S^2 R^T) and child log-scales log(s / 1.6); repeats per child."""
    s = torch.exp(log_scales).repeat(n_children, 1)
    eps = torch.randn(s.shape, generator=generator, dtype=s.dtype).to(s.device)
    offsets = (rotmats.repeat(n_children, 1, 1) @ (eps * s)[..., None])[..., 0]
    return means.repeat(n_children, 1) + offsets, torch.log(s / SPLIT_SCALE_DIVISOR)


def prune_mask(opacity_logits: torch.Tensor, min_opacity: float) -> torch.Tensor:
    """Gaussians to remove: sigmoid(opacity) < min_opacity (3DGS default 0.005)."""
    return torch.sigmoid(opacity_logits) < min_opacity
