"""Purity and rank diagnostics of the constrained set (Table 2.1-Right, Fig. 2.5, Table 2.3-Right).

S_i and the searches hold positions of a bank that contains the query's own entry (``neighbours``), so
purities leave that entry out (it trivially has the query's label) and ranks count it (it is the 1st
element of both S_i and M)."""
from __future__ import annotations

import torch


def purity(query_labels: torch.Tensor, bank_labels: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor,
           own: torch.Tensor) -> float:
    """Share (%) of the selected elements other than the query's own entry ``own`` (B,) that carry the query's
    true label (Sec. 2.1.3). Bank entries with label -1 (random initial entries) never match."""
    keep = valid & (idx != own.view(-1, 1))
    n = keep.sum()
    if n == 0:
        return float("nan")
    same = (bank_labels[idx] == query_labels.view(-1, 1)) & keep
    return 100.0 * same.sum().item() / n.item()


def rank_in_bank(sims: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor, which: int = 5) -> torch.Tensor:
    """Rank (1 = nearest) in the unconstrained bank M of the ``which``-th element of S_i (Table 2.1-Right uses
    the 5th; S_i is ordered best first and its 1st element is the query's own entry). ``sims`` (B, N) are the
    queries' similarities to M. Returns one rank per query whose S_i has that many valid elements."""
    j = which - 1
    if idx.shape[1] <= j:
        return torch.zeros(0)
    rows = valid[:, j]
    if not rows.any():
        return torch.zeros(0)
    s = sims[rows]
    target = s.gather(1, idx[rows, j:j + 1])
    return (s > target).sum(1).float() + 1


def purity_top_m(sims: torch.Tensor, own: torch.Tensor, query_labels: torch.Tensor, bank_labels: torch.Tensor,
                 m: int) -> float:
    """Purity (%) of the top-``m`` of the *unconstrained* M (Fig. 2.5's green curve, m = median rank of the 5th
    element of S_i from C): what MSF would get by simply taking as many neighbours as CMSF reaches."""
    m = min(max(int(m), 1), sims.shape[1])
    top, idx = sims.topk(m, dim=1)
    return purity(query_labels, bank_labels, idx, torch.isfinite(top), own)
