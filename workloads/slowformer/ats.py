"""ATS adaptive token sampling (Fayyaz et al., 2022), dissertation Eq. 4.4 and the attack loss Eq. 4.5.

Pure functions: attention ``attn`` of shape (B, H, N, N), values ``v`` (B, H, N, d); token 0 is CLS.
"""
from __future__ import annotations

import torch


def importance_scores(attn: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """S_j = A_{1,j}‖V_j‖ / Σ_{i≥2} A_{1,i}‖V_i‖ (Eq. 4.4), heads averaged as in ATS; returns (B, N−1).

    ``key_mask`` (B, N) zeroes tokens dropped earlier so they can never be sampled again."""
    cls_attn = attn[:, :, 0, 1:].mean(dim=1)
    v_norm = v[:, :, 1:].transpose(1, 2).flatten(2).norm(dim=-1)
    s = cls_attn * v_norm
    if key_mask is not None:
        s = s * key_mask[:, 1:].to(s)
    return s / s.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def inverse_transform_sample(scores: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Deterministic inverse-transform sampling of ATS: ``num_samples`` evenly spaced points of (0, 1) are
    mapped through the inverse CDF of the scores; a token is kept when at least one point falls in its
    interval, so a sharp distribution keeps few tokens and a uniform one keeps them all.
    Returns a bool keep mask (B, N−1)."""
    b, n = scores.shape
    cdf = torch.cumsum(scores, dim=-1)
    cdf = cdf / cdf[:, -1:].clamp_min(1e-12)
    points = (torch.arange(num_samples, device=scores.device, dtype=scores.dtype) + 0.5) / num_samples
    idx = torch.searchsorted(cdf.contiguous(), points.expand(b, -1).contiguous()).clamp_max(n - 1)
    keep = torch.zeros(b, n, dtype=torch.bool, device=scores.device)
    keep.scatter_(1, idx, True)
    return keep


def cls_uniform_loss(attn: torch.Tensor) -> torch.Tensor:
    """Σ_heads Σ_{i≥2} (A_{1,i} − 1/N)² (Eq. 4.5), averaged over the batch: pushes CLS attention towards
    uniform, which maximises the tokens ATS samples."""
    n = attn.shape[-1]
    return ((attn[:, :, 0, 1:] - 1.0 / n) ** 2).sum(dim=(1, 2)).mean()
