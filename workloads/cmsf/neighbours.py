"""Nearest-neighbour selection in the memory bank (dissertation Sec. 2.1.3, Fig. 2.3).

Every function takes l2-normalised embeddings and returns *positions in the memory bank M*
(``idx``, shape (B, n)) with a validity mask (``valid``, same shape): a constrained set may hold
fewer than ``n`` elements, and the loss must then average over the valid ones only.

The query's own embedding u_i is always part of S_i (it is its own nearest neighbour); the
functions here therefore search for the ``k - 1`` *other* elements, so ``k = 1`` is BYOL.
"""
from __future__ import annotations

import torch

from workloads.common.knn import knn_search


def unconstrained_topk(u: torch.Tensor, bank: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``n`` neighbours of each ``u`` in the whole bank M (C_i = M: MSF, Eq. of Sec. 2.1.3).

    Uses faiss through ``workloads.common.knn`` (GPU index when available)."""
    if n <= 0 or bank.shape[0] == 0:
        empty = torch.zeros(u.shape[0], 0, dtype=torch.long, device=u.device)
        return empty, empty.bool()
    _, idx = knn_search(bank, u, n, metric="ip")
    idx = idx.to(u.device).long()
    return idx, idx >= 0


def constrained_topk(u: torch.Tensor, bank: torch.Tensor, cand: torch.Tensor, cand_valid: torch.Tensor,
                     n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``n`` neighbours of ``u`` among the candidate positions ``cand`` (B, c) of M.

    This is the search inside C_i once C_i is given as an index set (CMSF_self: the positions of the
    top-k' neighbours of w_i in M')."""
    if n <= 0 or cand.shape[1] == 0:
        empty = torch.zeros(u.shape[0], 0, dtype=torch.long, device=u.device)
        return empty, empty.bool()
    sims = torch.einsum("bd,bcd->bc", u, bank[cand.clamp(min=0)])
    sims = sims.masked_fill(~cand_valid, float("-inf"))
    n = min(n, cand.shape[1])
    top, pos = sims.topk(n, dim=1)
    return cand.gather(1, pos), torch.isfinite(top)


def self_constraint(w: torch.Tensor, w_valid: torch.Tensor, bank_prev: torch.Tensor, bank_prev_valid: torch.Tensor,
                    k_prime: int) -> tuple[torch.Tensor, torch.Tensor]:
    """C_i for CMSF_self (Sec. 2.1.3.1): positions of the top-``k_prime`` neighbours of w_i in M'.

    ``w`` (B, d) are the cached previous-epoch embeddings of the query images, ``bank_prev`` (N, d)
    the cached embeddings of the images currently in M (so M'[j] and M[j] are the same image).
    Entries of M' without a cached embedding yet (first epoch) can never be chosen. Rows whose
    w_i is not cached return an all-invalid set; the caller relaxes those to C_i = M."""
    b = w.shape[0]
    ok = bank_prev_valid.nonzero().flatten()
    k_prime = min(k_prime, ok.numel())
    if k_prime == 0:
        empty = torch.zeros(b, 0, dtype=torch.long, device=w.device)
        return empty, empty.bool()
    _, local = knn_search(bank_prev[ok], w, k_prime, metric="ip")
    local = local.to(w.device).long()
    idx = ok[local.clamp(min=0)]
    valid = (local >= 0) & w_valid.view(-1, 1)
    return idx, valid


def label_constraint_topk(u: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, query_labels: torch.Tensor,
                          n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """C_i = {z in M : label(z) = label(u_i)} (Sec. 2.1.3.2); top-``n`` of it, or all of it (``n=None``, top-all).

    Labels < 0 mean "no label": such a query matches nothing (the caller relaxes it to MSF)."""
    same = (bank_labels.view(1, -1) == query_labels.view(-1, 1)) & (query_labels.view(-1, 1) >= 0)
    if n is None:
        n = int(same.sum(1).max().item()) if same.numel() else 0
    n = min(n, bank.shape[0])
    if n <= 0:
        empty = torch.zeros(u.shape[0], 0, dtype=torch.long, device=u.device)
        return empty, empty.bool()
    sims = (u @ bank.T).masked_fill(~same, float("-inf"))
    top, idx = sims.topk(n, dim=1)
    return idx, torch.isfinite(top)


def relax_to_unconstrained(idx_c: torch.Tensor, valid_c: torch.Tensor, idx_m: torch.Tensor, valid_m: torch.Tensor,
                           relax: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise choice: the constrained set, or the unconstrained MSF set where ``relax`` (B,) is true
    (non-confident pseudo-labels in CMSF_semi, uncached w_i in CMSF_self's first epoch)."""
    width = max(idx_c.shape[1], idx_m.shape[1])

    def pad(i, v):
        extra = width - i.shape[1]
        return (torch.cat([i, i.new_zeros(i.shape[0], extra)], 1), torch.cat([v, v.new_zeros(v.shape[0], extra)], 1))

    ic, vc = pad(idx_c, valid_c)
    im, vm = pad(idx_m, valid_m)
    r = relax.view(-1, 1)
    return torch.where(r, im, ic), torch.where(r, vm, vc)
