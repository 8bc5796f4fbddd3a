"""The (constrained) mean-shift loss (dissertation Sec. 2.1.3, the equation for L)."""
from __future__ import annotations

import torch


def mean_shift_loss(v: torch.Tensor, u: torch.Tensor, bank: torch.Tensor, idx: torch.Tensor,
                    valid: torch.Tensor, include_target: bool = True) -> torch.Tensor:
    """L = mean_i 1/|S_i| sum_{z in S_i} ||v_i - z||^2 = mean_i 1/|S_i| sum_z (2 - 2 v_i^T z).

    S_i = {u_i} ∪ {bank[idx[i, j]] : valid[i, j]}: the target u_i is always in its own neighbour set,
    so with no valid neighbours (k = 1) this is BYOL's loss 2 - 2 cos(v_i, u_i). Minimising
    -v_i^T z (the dissertation's form) and 2 - 2 v_i^T z is the same for unit vectors; the latter is
    non-negative and matches BYOL/MSF's reported values. ``v``, ``u``, ``bank`` are l2-normalised;
    gradients flow into ``v`` only (targets come from the momentum encoder).

    ``include_target=False`` is Table A.10(d)'s ablation: u_i still picks the neighbours but is not
    itself regressed to; a query left with no valid neighbour falls back to u_i (never an empty set)."""
    self_term = 2 - 2 * (v * u.detach()).sum(1)
    if idx.shape[1] == 0:
        return self_term.mean()
    z = bank.detach()[idx]                                    # (B, n, d)
    nb = 2 - 2 * torch.einsum("bd,bnd->bn", v, z)
    w = valid.to(v.dtype)
    if include_target:
        per_query = (self_term + (nb * w).sum(1)) / (1 + w.sum(1))
    else:
        count = w.sum(1)
        per_query = torch.where(count > 0, (nb * w).sum(1) / count.clamp(min=1), self_term)
    return per_query.mean()
