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
    """``ats_sampling: midpoint``, a textbook reading of ATS's inverse-transform sampling (not the official
    one, ``official_inverse_transform_sample``): ``num_samples`` evenly spaced points of (0, 1) are
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


def official_sample_points(normalized_cdf: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """``TokenSampling.create_ys`` (UCDvision/SlowFormer avit/ats_lib/TokenSampler.py:100-129, = ATS
    ats_block.py): n−1 points evenly spaced from the smallest non-zero CDF value to 1, (B, n−1)."""
    b = normalized_cdf.shape[0]
    if num_tokens < 3:
        raise ValueError(f"ATS samples n−1 points spaced by 1/(n−2): n={num_tokens} must be at least 3")
    ys = torch.linspace(0, 1.0, num_tokens - 1, dtype=normalized_cdf.dtype, device=normalized_cdf.device).expand(b, -1)
    start = (normalized_cdf + (normalized_cdf == 0).to(normalized_cdf) * 1e8).min(dim=1).values[:, None]
    steps = torch.arange(num_tokens - 1, dtype=normalized_cdf.dtype, device=normalized_cdf.device)
    return start + (ys * (num_tokens - 2) - start * steps) / (num_tokens - 2)


def official_inverse_transform_sample(scores: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """ATS's inverse-transform sampling as ``TokenSampling.inverse_transform_sampling`` (TokenSampler.py:131-212,
    = adaptivetokensampling/ATS libs/models/transformers/ats_block.py): sort the K scores ascending, cumulative
    sum, min-max normalise the CDF, take the n−1 points of ``official_sample_points``; each point picks the
    sorted token whose CDF value is NEAREST (first on ties); the CDF is left-cropped to its last n−1 entries when
    n−1 < K (F.pad with a negative width), distinct picks are kept (``get_unique_indices``, including its pad
    value 1 that drops a last pick equal to 1). ``scores`` (B, K) without CLS; ``num_tokens`` = n incl. CLS.
    Returns the bool keep mask (B, K) in the original token order."""
    b, k = scores.shape
    sorted_scores, order = torch.sort(scores, dim=1, stable=True)
    cdf = torch.cumsum(sorted_scores, dim=1)
    lo, hi = cdf.min(dim=1, keepdim=True).values, cdf.max(dim=1, keepdim=True).values
    ncdf = (cdf - lo) / (hi - lo)
    ys = official_sample_points(ncdf, num_tokens)
    diff = (num_tokens - 1) - k
    padded = torch.nn.functional.pad(ncdf, (diff, 0))
    pick = (ys[:, :, None] - padded[:, None, :]).abs().argmin(dim=2) - diff
    ordered = torch.sort(pick, dim=1).values
    shift_left = torch.nn.functional.pad(ordered[:, 1:], (0, 1), value=1)
    unique = torch.sort(torch.where(shift_left - ordered == 0, torch.full_like(ordered, k), ordered), dim=1).values[:, :k]
    keep_sorted = torch.zeros(b, k + 1, dtype=torch.bool, device=scores.device)
    keep_sorted.scatter_(1, unique, True)
    keep = torch.zeros(b, k, dtype=torch.bool, device=scores.device)
    keep.scatter_(1, order, keep_sorted[:, :k])
    return keep


def cls_uniform_loss(attn: torch.Tensor) -> torch.Tensor:
    """Σ_heads Σ_{i≥2} (A_{1,i} − 1/N)² (Eq. 4.5), averaged over the batch: pushes CLS attention towards
    uniform, which maximises the tokens ATS samples."""
    n = attn.shape[-1]
    return ((attn[:, :, 0, 1:] - 1.0 / n) ** 2).sum(dim=(1, 2)).mean()
