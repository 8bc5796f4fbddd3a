"""CMSF neighbour selection and loss on hand-built banks (dissertation Sec. 2.1.3, Fig. 2.3)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from workloads.cmsf.losses import mean_shift_loss
from workloads.cmsf.neighbours import (constrained_topk, label_constraint_topk, masked_similarities,
                                       relax_to_unconstrained, self_constraint, topk_positions)


def angles(*degs, dtype=torch.float64):
    return torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in degs], dtype=dtype)


def everything(n):
    return torch.ones(n, dtype=torch.bool)


def test_topk_positions_order_by_cosine_and_skip_unsearchable():
    bank = angles(0, 90, 10, 180, 30)
    sims = masked_similarities(angles(0), bank, everything(5))
    assert topk_positions(sims, 3)[0].tolist() == [[0, 2, 4]]
    hidden = masked_similarities(angles(0), bank, torch.tensor([True, True, False, True, True]))
    idx, ok = topk_positions(hidden, 5)
    assert idx[0, :3].tolist() == [0, 4, 1] and ok.tolist() == [[True, True, True, True, False]]


def test_hiding_the_own_entry_leaves_it_out_of_the_search():
    bank = angles(0, 5, 40)
    sims = masked_similarities(angles(0, 40), bank, everything(3), hide=torch.tensor([[0], [2]]))
    assert topk_positions(sims, 1)[0].tolist() == [[1], [1]]


def test_self_constraint_restricts_m_to_the_m_prime_neighbours_of_w():
    # M' (previous augmentations) puts positions 0 (the query's own entry), 3 and 4 next to w; in M, 3 and 4
    # sit far from u. Top-3 in M' is C_i = {0, 3, 4}: the own entry is one of the k' (official l.193-198).
    m_prime = angles(0, 170, 200, 5, 10)
    m = angles(0, 6, 9, 60, 80)
    cand = self_constraint(angles(0), m_prime, everything(5), k_prime=3)
    assert sorted(cand[0].tolist()) == [0, 3, 4]
    sims = masked_similarities(angles(0), m, everything(5))
    idx, ok = constrained_topk(sims, cand, 3)
    assert idx.tolist() == [[0, 3, 4]] and ok.all()
    assert topk_positions(sims, 3)[0].tolist() == [[0, 1, 2]]      # the unconstrained MSF set


def test_constrained_set_smaller_than_k_is_filled_from_outside_like_the_minus_5_offset():
    # k' = 2 < k = 4: official dist_t - 5 on C_i then top-4 = all of C_i, then the 2 nearest outside it
    m = angles(0, 6, 9, 60, 80)
    sims = masked_similarities(angles(0), m, everything(5))
    idx, ok = constrained_topk(sims, torch.tensor([[0, 4]]), 4)
    dist = 2 - 2 * sims.clone()                                         # the official computation, by hand
    dist[0, torch.tensor([0, 4])] -= 5
    assert idx.tolist() == [dist.topk(4, largest=False).indices[0].tolist()] == [[0, 4, 1, 2]] and ok.all()


def test_self_constraint_never_picks_unusable_m_prime_entries():
    m_prime = angles(0, 1, 90)
    cand = self_constraint(angles(0), m_prime, torch.tensor([False, True, True]), k_prime=3)
    assert cand[0].tolist()[:2] == [1, 2] and cand[0, 2] == -1
    idx, ok = constrained_topk(masked_similarities(angles(0), m_prime, everything(3)), cand, 2)
    assert idx.tolist() == [[1, 2]] and ok.all()


def test_label_constraint_includes_the_own_entry_top_k_and_top_all():
    bank = angles(0, 5, 10, 20, 40)                  # position 0 is the query's own entry, label 1
    labels = torch.tensor([1, 0, 1, 0, 1])
    sims = masked_similarities(angles(0), bank, everything(5))
    idx, ok = label_constraint_topk(sims, labels, torch.tensor([1]), 2)
    assert idx.tolist() == [[0, 2]] and ok.all()
    idx, ok = label_constraint_topk(sims, labels, torch.tensor([1]), None)
    assert sorted(idx[ok].tolist()) == [0, 2, 4]
    idx, ok = label_constraint_topk(sims, labels, torch.tensor([-1]), 2)       # no label: nothing matches
    assert not ok.any()


def test_relax_picks_unconstrained_rows():
    ic, vc = torch.tensor([[7], [8]]), torch.tensor([[True], [True]])
    im, vm = torch.tensor([[1, 2], [3, 4]]), torch.ones(2, 2, dtype=torch.bool)
    i, v = relax_to_unconstrained(ic, vc, im, vm, torch.tensor([False, True]))
    assert i[0, 0] == 7 and not v[0, 1] and i[1].tolist() == [3, 4]


def test_loss_equals_byol_for_k1_because_the_own_entry_is_in_the_bank():
    v, u = F.normalize(torch.tensor([[1.0, 2.0, 2.0]], dtype=torch.float64), dim=1), \
        F.normalize(torch.tensor([[2.0, 1.0, 2.0]], dtype=torch.float64), dim=1)
    bank = torch.cat([F.normalize(torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), dim=1), u])
    idx, ok = topk_positions(masked_similarities(u, bank, everything(2)), 1)
    assert idx.tolist() == [[1]]
    cos = (1 * 2 + 2 * 1 + 2 * 2) / 9.0                                  # both vectors have norm 3
    assert math.isclose(mean_shift_loss(v, bank, idx, ok).item(), 2 - 2 * cos, rel_tol=1e-12)


def test_loss_is_the_official_mean_of_gathered_distances_float64():
    g = torch.Generator().manual_seed(3)
    bank = F.normalize(torch.randn(12, 4, generator=g, dtype=torch.float64), dim=1)
    u, v = bank[[2, 7]], F.normalize(torch.randn(2, 4, generator=g, dtype=torch.float64), dim=1)
    idx, ok = topk_positions(masked_similarities(u, bank, everything(12)), 5)
    # official: dist_q = 2 - 2 q·M, gathered at the top-k positions of dist_t, sum / k, then batch mean
    dist_t, dist_q = 2 - 2 * u @ bank.T, 2 - 2 * v @ bank.T
    nn_index = dist_t.topk(5, dim=1, largest=False).indices
    ref = (torch.gather(dist_q, 1, nn_index).sum(1) / 5).mean()
    assert torch.equal(idx, nn_index) and idx[:, 0].tolist() == [2, 7]      # own entries first
    assert math.isclose(mean_shift_loss(v, bank, idx, ok).item(), ref.item(), rel_tol=1e-12)


def test_loss_averages_valid_elements_only_and_falls_back_to_u():
    v, bank = angles(0), angles(30, 60, 90)
    idx, ok = torch.tensor([[0, 1, 2]]), torch.tensor([[True, True, False]])
    expected = ((2 - 2 * math.cos(math.radians(30))) + (2 - 2 * math.cos(math.radians(60)))) / 2
    assert math.isclose(mean_shift_loss(v, bank, idx, ok).item(), expected, rel_tol=1e-12)
    none = torch.zeros(1, 3, dtype=torch.bool)
    assert math.isclose(mean_shift_loss(v, bank, idx, none, fallback=angles(45)).item(),
                        2 - 2 * math.cos(math.radians(45)), rel_tol=1e-12)


def test_loss_gradient_flows_only_to_online_prediction():
    v = F.normalize(torch.tensor([[1.0, 1.0]]), dim=1).requires_grad_()
    bank = F.normalize(torch.tensor([[0.0, 1.0]]), dim=1).requires_grad_()
    mean_shift_loss(v, bank, torch.tensor([[0]]), torch.tensor([[True]])).backward()
    assert v.grad is not None and bank.grad is None
