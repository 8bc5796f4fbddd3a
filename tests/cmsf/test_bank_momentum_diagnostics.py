"""Momentum update, FIFO memory bank with the previous-epoch cache, purity and rank diagnostics."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from workloads.cmsf.diagnostics import purity, purity_top_m, rank_in_bank
from workloads.cmsf.labels import corrupt_labels
from workloads.cmsf.memory_bank import MemoryBank
from workloads.cmsf.momentum import momentum_update


def test_momentum_update_is_ema_of_parameters_and_copies_buffers():
    torch.manual_seed(0)
    online, target = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    online[1].running_mean.fill_(5.0)
    before = [p.clone().double() for p in target.parameters()]
    momentum_update(target, online, 0.99)
    for b, o, t in zip(before, online.parameters(), target.parameters()):
        assert torch.allclose(t.double(), 0.99 * b + 0.01 * o.double(), atol=1e-7)
    assert torch.equal(target[1].running_mean, online[1].running_mean)
    with pytest.raises(ValueError, match="momentum"):
        momentum_update(target, online, 1.5)


def test_bank_is_fifo_and_m_prime_holds_the_previous_visit_of_each_entry():
    bank = MemoryBank(3, 2, num_images=5)
    bank.enqueue(torch.tensor([[1., 0], [0, 1]]), torch.tensor([0, 1]), torch.tensor([7, 8]))
    bank.enqueue(torch.tensor([[2., 0], [0, 2]]), torch.tensor([2, 3]), torch.tensor([9, 9]))
    assert bank.index.tolist() == [1, 2, 3] and bank.labels.tolist() == [8, 9, 9]
    # w_i = the image's latest embedding, i.e. its previous visit as seen from the next step
    w, ok = bank.previous(torch.tensor([0, 1, 4]))
    assert ok.tolist() == [True, True, False] and w[0].tolist() == [1.0, 0.0]
    # first visits have no M' value yet
    assert bank.previous_bank()[1].tolist() == [False, False, False]
    bank.enqueue(torch.tensor([[3., 3]]), torch.tensor([0]), torch.tensor([7]))
    prev, prev_ok = bank.previous_bank()          # aligned with M: images 2, 3, 0
    assert bank.index.tolist() == [2, 3, 0] and prev_ok.tolist() == [False, False, True]
    assert prev[2].tolist() == [1.0, 0.0]         # image 0's embedding from its previous visit
    assert bank.previous(torch.tensor([0]))[0][0].tolist() == [3.0, 3.0]


def test_m_prime_is_one_visit_old_even_when_the_bank_holds_the_whole_data_set():
    # |M| > data set (mini: M = training set): an eviction-time cache would never fill; M' must still work
    bank = MemoryBank(10, 1, num_images=2)
    for visit in range(3):
        bank.enqueue(torch.tensor([[float(visit)], [10.0 + visit]]), torch.tensor([0, 1]), torch.tensor([0, 1]))
    prev, ok = bank.previous_bank()
    assert ok.tolist() == [False, False, True, True, True, True]
    assert prev[-2:].flatten().tolist() == [1.0, 11.0]   # the latest entries point at visit 1


def test_purity_counts_same_label_share():
    q = torch.tensor([0, 1])
    bank_labels = torch.tensor([0, 1, 1, 0])
    idx = torch.tensor([[0, 1], [2, 3]])
    ok = torch.tensor([[True, True], [True, False]])
    assert math.isclose(purity(q, bank_labels, idx, ok), 100 * 2 / 3)


def test_rank_of_fifth_element_in_unconstrained_bank():
    ang = [0, 1, 2, 3, 4, 5, 6, 7]
    bank = torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in ang])
    u = bank[:1].clone()
    # S_i = {u, bank 1, 3, 5, 7}: the 5th element is bank[7], 8th nearest in M, so rank 9 counting u itself
    r = rank_in_bank(u, bank, torch.tensor([[1, 3, 5, 7]]), torch.ones(1, 4, dtype=torch.bool), which=5)
    assert r.tolist() == [9.0]


def test_label_noise_flips_exactly_the_rate():
    y = torch.arange(10).repeat(20)
    noisy = corrupt_labels(y, 0.25, 10, seed=0)
    assert (noisy != y).sum().item() == 50


def test_purity_of_top_m_of_the_unconstrained_bank():
    bank = torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in (0, 10, 20, 30, 90)])
    labels = torch.tensor([1, 1, 0, 0, 1])
    u = bank[:1].clone()
    assert math.isclose(purity_top_m(u, bank, torch.tensor([1]), labels, 2), 100.0)     # entries 0, 1
    assert math.isclose(purity_top_m(u, bank, torch.tensor([1]), labels, 4), 50.0)      # 0, 1, 2, 3
    assert math.isclose(purity_top_m(u, bank, torch.tensor([1]), labels, 99), 60.0)     # m capped at |M|


def test_rank_plot_draws_purity_curves(tmp_path):
    from workloads.cmsf.plots import plot_rank_curve

    png = tmp_path / "f.png"
    plot_rank_curve([{"epoch": 1, "rank5_median": 40.0, "purity_c": 60.0, "purity_m": 62.0, "purity_top_m": 30.0},
                     {"epoch": 2, "rank5_median": 12.0, "purity_c": 80.0}], png, "t")
    assert png.stat().st_size > 1000
