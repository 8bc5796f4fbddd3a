"""Purity and rank diagnostics of the constrained set (Table 2.1-Right, Fig. 2.5, Table 2.3-Right)."""
from __future__ import annotations

import torch


def purity(query_labels: torch.Tensor, bank_labels: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor) -> float:
    """Share (%) of the selected neighbours (excluding the query itself) with the query's true label (Sec. 2.1.3)."""
    n = valid.sum()
    if n == 0:
        return float("nan")
    same = (bank_labels[idx] == query_labels.view(-1, 1)) & valid
    return 100.0 * same.sum().item() / n.item()


def rank_in_bank(u: torch.Tensor, bank: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor, which: int = 5
                 ) -> torch.Tensor:
    """Rank (1 = nearest) in the unconstrained bank M of the ``which``-th element of S_i (its ``which``-th
    nearest element of C_i, counting the query itself as the 1st; Table 2.1-Right uses the 5th).

    Returns one rank per query that has that many valid elements (others are dropped)."""
    j = which - 2                                   # column in idx: idx holds S_i without u_i
    if idx.shape[1] <= j:
        return torch.zeros(0)
    rows = valid[:, j]
    if not rows.any():
        return torch.zeros(0)
    sims = u[rows] @ bank.T                          # (b, N)
    target = sims.gather(1, idx[rows, j:j + 1])
    # rank among bank entries, +1 for u_i itself which precedes every bank entry
    return (sims > target).sum(1).float() + 2


def purity_top_m(u: torch.Tensor, bank: torch.Tensor, query_labels: torch.Tensor, bank_labels: torch.Tensor,
                 m: int) -> float:
    """Purity (%) of the top-``m`` of the *unconstrained* M (Fig. 2.5's green curve, m = median rank of the
    5th element of C): what MSF would get by simply taking as many neighbours as CMSF reaches."""
    m = min(max(int(m), 1), bank.shape[0])
    idx = (u @ bank.T).topk(m, dim=1).indices
    return purity(query_labels, bank_labels, idx, torch.ones_like(idx, dtype=torch.bool))
