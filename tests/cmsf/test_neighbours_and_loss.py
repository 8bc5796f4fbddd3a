"""CMSF equations on hand-built banks (dissertation Sec. 2.1.3, Fig. 2.3)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from workloads.cmsf.losses import mean_shift_loss
from workloads.cmsf.neighbours import (constrained_topk, label_constraint_topk, relax_to_unconstrained,
                                       self_constraint, unconstrained_topk)


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def angles(*degs, dtype=torch.float32):
    return torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in degs], dtype=dtype)


def test_unconstrained_topk_orders_by_cosine():
    bank = angles(0, 90, 10, 180, 30)
    idx, ok = unconstrained_topk(angles(0), bank, 3)
    assert idx.tolist() == [[0, 2, 4]] and ok.all()


def test_self_constraint_uses_indices_from_m_prime_to_restrict_m():
    # M' (previous augmentations) puts entries 3 and 4 next to w; in M those same images sit far away.
    m_prime = angles(100, 170, 200, 5, 10)
    m = angles(3, 6, 9, 60, 80)
    w = angles(0)
    cand, ok = self_constraint(w, torch.tensor([True]), m_prime, torch.ones(5, dtype=torch.bool), k_prime=2)
    assert sorted(cand[0].tolist()) == [3, 4] and ok.all()
    # top-1 inside C_i picks entry 3 (60 deg from u) although 0, 1, 2 are nearer in the unconstrained M
    idx, ok = constrained_topk(angles(0), m, cand, ok, 1)
    assert idx.tolist() == [[3]] and ok.all()
    assert unconstrained_topk(angles(0), m, 1)[0].tolist() == [[0]]


def test_self_constraint_skips_uncached_entries_and_queries():
    m_prime = angles(0, 1, 90)
    cached = torch.tensor([False, True, True])
    cand, ok = self_constraint(angles(0, 0), torch.tensor([True, False]), m_prime, cached, k_prime=1)
    assert cand[:, 0].tolist() == [1, 1]           # entry 0 has no cached embedding yet
    assert ok[:, 0].tolist() == [True, False]      # second query has no cached w_i


def test_constraint_equal_to_m_gives_msf_neighbours():
    torch.manual_seed(0)
    bank, u = F.normalize(torch.randn(50, 8), dim=1), F.normalize(torch.randn(4, 8), dim=1)
    full = torch.arange(50).repeat(4, 1)
    a, _ = constrained_topk(u, bank, full, torch.ones_like(full, dtype=torch.bool), 4)
    b, _ = unconstrained_topk(u, bank, 4)
    assert torch.equal(a, b)


def test_label_constraint_top_k_and_top_all():
    bank = angles(0, 5, 10, 20, 40)
    labels = torch.tensor([1, 0, 1, 0, 1])
    idx, ok = label_constraint_topk(angles(0), bank, labels, torch.tensor([0]), 1)
    assert idx.tolist() == [[1]]
    idx, ok = label_constraint_topk(angles(0), bank, labels, torch.tensor([1]), None)
    assert sorted(idx[ok].tolist()) == [0, 2, 4]


def test_relax_picks_unconstrained_rows():
    ic, vc = torch.tensor([[7], [8]]), torch.tensor([[True], [True]])
    im, vm = torch.tensor([[1, 2], [3, 4]]), torch.ones(2, 2, dtype=torch.bool)
    i, v = relax_to_unconstrained(ic, vc, im, vm, torch.tensor([False, True]))
    assert i[0, 0] == 7 and not v[0, 1] and i[1].tolist() == [3, 4]


def test_loss_equals_byol_for_k1():
    v, u = unit([1.0, 2.0, 2.0]), unit([2.0, 1.0, 2.0])
    empty = torch.zeros(1, 0, dtype=torch.long)
    loss = mean_shift_loss(v, u, torch.zeros(0, 3), empty, empty.bool())
    cos = (1 * 2 + 2 * 1 + 2 * 2) / 9.0                 # both vectors have norm 3
    assert math.isclose(loss.item(), 2 - 2 * cos, rel_tol=1e-6)


def test_loss_is_mean_over_s_including_target_float64():
    v = unit([1.0, 0.0]).double()
    u = angles(30, dtype=torch.float64)
    bank = angles(0, 60, 90, dtype=torch.float64)
    idx, ok = torch.tensor([[1, 2]]), torch.tensor([[True, False]])   # second neighbour invalid
    expected = ((2 - 2 * math.cos(math.radians(30))) + (2 - 2 * math.cos(math.radians(60)))) / 2
    assert math.isclose(mean_shift_loss(v, u, bank, idx, ok).item(), expected, rel_tol=1e-12)


def test_loss_equals_msf_when_c_is_m():
    torch.manual_seed(1)
    bank, u, v = (F.normalize(torch.randn(n, 6), dim=1) for n in (30, 5, 5))
    idx, ok = unconstrained_topk(u, bank, 4)
    full = torch.arange(30).repeat(5, 1)
    idx_c, ok_c = constrained_topk(u, bank, full, torch.ones_like(full, dtype=torch.bool), 4)
    # MSF written straight from its definition: mean of ||v - z||^2 over u and its 4 NNs
    sims = u @ bank.T
    ref = torch.stack([((v[i] - torch.cat([u[i:i + 1], bank[sims[i].topk(4).indices]])) ** 2).sum(1).mean()
                       for i in range(5)]).mean()
    assert torch.allclose(mean_shift_loss(v, u, bank, idx_c, ok_c), ref, atol=1e-5)
    assert torch.allclose(mean_shift_loss(v, u, bank, idx, ok), ref, atol=1e-5)


def test_loss_gradient_flows_only_to_online_prediction():
    v = unit([1.0, 1.0]).requires_grad_()
    u = unit([1.0, 0.0]).requires_grad_()
    bank = unit([0.0, 1.0]).requires_grad_()
    mean_shift_loss(v, u, bank, torch.tensor([[0]]), torch.tensor([[True]])).backward()
    assert v.grad is not None and u.grad is None and bank.grad is None


def test_loss_without_target_averages_neighbours_only():
    v = unit([1.0, 0.0])
    u = angles(30)
    bank = angles(0, 60)
    idx, ok = torch.tensor([[0, 1]]), torch.tensor([[True, True]])
    expected = ((2 - 2 * 1.0) + (2 - 2 * math.cos(math.radians(60)))) / 2     # u's 30 deg term left out
    assert math.isclose(mean_shift_loss(v, u, bank, idx, ok, include_target=False).item(), expected, rel_tol=1e-6)
    none = torch.zeros(1, 2, dtype=torch.bool)                                 # no neighbour: back to BYOL
    assert math.isclose(mean_shift_loss(v, u, bank, idx, none, include_target=False).item(),
                        2 - 2 * math.cos(math.radians(30)), rel_tol=1e-6)
