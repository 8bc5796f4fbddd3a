"""Nearest-neighbour selection in the memory bank (dissertation Sec. 2.1.3, Fig. 2.3).

The bank already holds this step's targets when the search runs (the text's "we add u_i to the memory bank
M ..., then find the set S_i of top-k nearest neighbours of u_i in C_i including u_i itself", and the
authors' ``_dequeue_and_enqueue`` before the search, UCDvision/CMSF ``self_supervised/train_cmsf_self.py``
l.180-189). S_i is therefore a set of *positions in M* of size k that contains the query's own entry
(u_i is its own nearest neighbour), so k = 1 is BYOL, and the other current targets can be neighbours.

Every function takes a similarity matrix ``sims`` (B, N) = u @ M^T whose unsearchable entries are -inf
(``masked_similarities``) and returns ``idx`` (B, n) positions with a validity mask ``valid`` (B, n): a
constrained set may hold fewer than n elements, and the loss then averages over the valid ones only. The
searches are dense matrix products, as in the authors' code (``torch.einsum`` + ``topk``).
"""
from __future__ import annotations

import torch

# the official constraint adds -5 to the distance 2 - 2cos of C_i's members (l.201-203): in cosine units +2.5,
# more than the whole range of cos, so every member of C_i outranks every non-member
CONSTRAINT_BONUS = 2.5


def masked_similarities(u: torch.Tensor, bank: torch.Tensor, searchable: torch.Tensor,
                        hide: torch.Tensor | None = None) -> torch.Tensor:
    """u @ bank^T with -inf where a position may not be chosen: unsearchable positions (never written,
    with ``bank_init=empty``) and, per row, the positions in ``hide`` (B, h) (the query's own entry when
    the target is left out of S_i, Table A.10(d))."""
    sims = (u @ bank.T).masked_fill(~searchable.view(1, -1), float("-inf"))
    if hide is not None:
        sims = sims.scatter(1, hide, float("-inf"))
    return sims


def topk_positions(sims: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``n`` positions of each row (C_i = M: BYOL for n = 1, MSF for n = k; official l.189)."""
    n = min(n, sims.shape[1])
    if n <= 0:
        empty = torch.zeros(sims.shape[0], 0, dtype=torch.long, device=sims.device)
        return empty, empty.bool()
    top, idx = sims.topk(n, dim=1)
    return idx, torch.isfinite(top)


def self_constraint(w: torch.Tensor, bank_prime: torch.Tensor, prime_ok: torch.Tensor, k_prime: int,
                    ) -> torch.Tensor:
    """C_i for CMSF_self (Sec. 2.1.3.1): the positions of the top-``k_prime`` neighbours of w_i in M',
    official l.193-198. M'[own entry] is w_i itself, so C_i holds the query's own position plus k'-1 others.
    Positions of M' that are not usable can never be chosen (a row with fewer usable positions gets -1).
    Returns (B, k') positions, -1 for none."""
    k_prime = min(k_prime, bank_prime.shape[0])
    sims = (w @ bank_prime.T).masked_fill(~prime_ok.view(1, -1), float("-inf"))
    top, idx = sims.topk(k_prime, dim=1)
    return torch.where(torch.isfinite(top), idx, torch.full_like(idx, -1))


def constrained_topk(sims: torch.Tensor, cand: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """S_i: top-``n`` of M after lifting C_i's positions ``cand`` (B, c; -1 = none) above all others, the
    official ``dist_t += -5 on nn_index_prime`` then ``topk`` (l.201-204). With |C_i| >= n this is the top-n
    inside C_i; with |C_i| < n (k' < k) all of C_i plus the nearest positions outside it."""
    hits = torch.zeros(sims.shape, dtype=torch.long, device=sims.device)
    hits.scatter_add_(1, cand.clamp(min=0), (cand >= 0).long())     # -1 entries add nothing
    lifted = sims + CONSTRAINT_BONUS * (hits > 0).to(sims.dtype)
    return topk_positions(lifted, n)


def label_constraint_topk(sims: torch.Tensor, bank_labels: torch.Tensor, query_labels: torch.Tensor,
                          n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """C_i = {z in M : label(z) = label(u_i)} (Sec. 2.1.3.2, ``supervised/train_cmsf_sup.py`` l.167-199);
    top-``n`` of it, or all of it (``n=None``, top-all). The query's own entry carries its label, so it is
    in its own S_i. Labels < 0 mean "no label": such a query matches nothing (the caller relaxes it to MSF).
    Deviation: where C_i has fewer than n members the official code pads S_i with arbitrary other-label
    entries (all at distance 5); here those slots are invalid (this happens only in the first steps)."""
    same = (bank_labels.view(1, -1) == query_labels.view(-1, 1)) & (query_labels.view(-1, 1) >= 0)
    if n is None:
        n = int(same.sum(1).max().item()) if same.numel() else 0
    return topk_positions(sims.masked_fill(~same, float("-inf")), n)


def relax_to_unconstrained(idx_c: torch.Tensor, valid_c: torch.Tensor, idx_m: torch.Tensor, valid_m: torch.Tensor,
                           relax: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise choice: the constrained set, or the unconstrained MSF set where ``relax`` (B,) is true
    (non-confident pseudo-labels in CMSF_semi, official ``Msk[not_conf_idx] = False``; queries without a
    previous visit in CMSF_self with ``bank_init=empty``)."""
    width = max(idx_c.shape[1], idx_m.shape[1])

    def pad(i, v):
        extra = width - i.shape[1]
        return (torch.cat([i, i.new_zeros(i.shape[0], extra)], 1), torch.cat([v, v.new_zeros(v.shape[0], extra)], 1))

    ic, vc = pad(idx_c, valid_c)
    im, vm = pad(idx_m, valid_m)
    r = relax.view(-1, 1)
    return torch.where(r, im, ic), torch.where(r, vm, vc)
