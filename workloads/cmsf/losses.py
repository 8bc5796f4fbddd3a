"""The (constrained) mean-shift loss (dissertation Sec. 2.1.3, the equation for L)."""
from __future__ import annotations

import torch


def mean_shift_loss(v: torch.Tensor, bank: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor,
                    fallback: torch.Tensor | None = None) -> torch.Tensor:
    """L = mean_i 1/|S_i| sum_{z in S_i} ||v_i - z||^2 = mean_i 1/|S_i| sum_z (2 - 2 v_i^T z).

    S_i = {bank[idx[i, j]] : valid[i, j]}, positions in a bank that already holds this step's targets, so
    S_i contains u_i's own entry (UCDvision/CMSF ``self_supervised/train_cmsf_self.py`` l.186-209: distances
    ``2 - 2 q·M`` gathered at the top-k positions, ``sum / topk`` then batch mean; ``supervised/
    train_cmsf_sup.py`` l.187-199 the same with ``mean``). With k = 1 this is BYOL's 2 - 2 cos(v_i, u_i).
    Minimising -v_i^T z (the dissertation's form) and 2 - 2 v_i^T z is the same for unit vectors. ``v`` and
    ``bank`` are l2-normalised; gradients flow into ``v`` only (targets come from the momentum encoder).

    ``fallback`` (B, d): the target a row with no valid element regresses to (Table A.10(d)'s "target not in
    top-k", where u_i's own entry is hidden from the search: a query left with no neighbour falls back to
    u_i rather than to an empty set)."""
    z = bank.detach()[idx]                                    # (B, n, d)
    nb = 2 - 2 * torch.einsum("bd,bnd->bn", v, z)
    w = valid.to(v.dtype)
    count = w.sum(1)
    per_query = (nb * w).sum(1) / count.clamp(min=1)
    if fallback is not None:
        per_query = torch.where(count > 0, per_query, 2 - 2 * (v * fallback.detach()).sum(1))
    return per_query.mean()
