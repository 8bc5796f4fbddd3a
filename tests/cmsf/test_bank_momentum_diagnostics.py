"""Momentum update with the target's own BN statistics, CompRess's FIFO bank, purity and rank diagnostics."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from workloads.cmsf.diagnostics import purity, purity_top_m, rank_in_bank
from workloads.cmsf.labels import corrupt_labels
from workloads.cmsf.memory_bank import MemoryBank
from workloads.cmsf.momentum import momentum_update


def nets():
    torch.manual_seed(0)
    make = lambda: nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).double()
    return make(), make()


def test_several_momentum_steps_average_parameters_and_the_target_keeps_its_own_bn_statistics():
    # official: param_t = m param_t + (1 - m) param_q every step (train_cmsf_self.py l.130-132), buffers untouched;
    # the target runs in train mode, so its running statistics follow the batches *it* sees
    online, target = nets()
    opt = torch.optim.SGD(online.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    ema = [p.detach().clone() for p in target.parameters()]
    run_mean = torch.zeros(2, dtype=torch.float64)
    for _ in range(4):
        x1, x2 = (torch.randn(6, 3, generator=g, dtype=torch.float64) for _ in range(2))
        with torch.no_grad():
            h = x1 @ target[0].weight.T + target[0].bias              # what the target's BN normalises
            target(x1)
        run_mean = 0.9 * run_mean + 0.1 * h.mean(0)                   # BatchNorm1d's default momentum 0.1
        online(x2).pow(2).sum().backward()
        opt.step()
        opt.zero_grad()
        momentum_update(target, online, 0.99)
        ema = [0.99 * e + 0.01 * o.detach() for e, o in zip(ema, online.parameters())]
    for e, t in zip(ema, target.parameters()):
        assert torch.allclose(t, e, atol=1e-14, rtol=0)
    assert torch.allclose(target[1].running_mean, run_mean, atol=1e-14, rtol=0)
    assert not torch.allclose(target[1].running_mean, online[1].running_mean)


def test_copy_buffers_reading_overwrites_the_target_statistics():
    online, target = nets()
    online[1].running_mean.fill_(5.0)
    momentum_update(target, online, 0.5, copy_buffers=True)
    assert torch.equal(target[1].running_mean, online[1].running_mean)
    momentum_update(target, online, 0.5)
    with pytest.raises(ValueError, match="momentum"):
        momentum_update(target, online, 1.5)


def test_compress_bank_is_a_fifo_queue():
    bank = MemoryBank(3, 2)
    bank.enqueue(torch.tensor([[1., 0], [0, 1]]), torch.tensor([0, 1]), torch.tensor([7, 8]))
    bank.enqueue(torch.tensor([[2., 0], [0, 2]]), torch.tensor([2, 3]), torch.tensor([9, 9]))
    assert bank.index.tolist() == [1, 2, 3] and bank.labels.tolist() == [8, 9, 9] and len(bank) == 3
    assert bank.feats[0].tolist() == [0.0, 1.0]


def test_purity_counts_same_label_share_without_the_own_entry():
    q = torch.tensor([0, 1])
    bank_labels = torch.tensor([0, 1, 1, 0, -1])
    idx = torch.tensor([[0, 1, 3], [2, 3, 4]])
    ok = torch.tensor([[True, True, True], [True, True, False]])
    own = torch.tensor([0, 2])                 # left out: 2 neighbours of row 0 (1 same), 1 of row 1 (none)
    assert math.isclose(purity(q, bank_labels, idx, ok, own), 100 * 1 / 3)


def test_rank_of_fifth_element_in_unconstrained_bank():
    ang = [0, 1, 2, 3, 4, 5, 6, 7]
    bank = torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in ang], dtype=torch.float64)
    sims = bank[:1] @ bank.T                   # position 0 is the query's own entry
    # S_i = {own 0, 1, 3, 5, 7}: the 5th element is position 7, the 8th nearest in M counting the own entry
    r = rank_in_bank(sims, torch.tensor([[0, 1, 3, 5, 7]]), torch.ones(1, 5, dtype=torch.bool), which=5)
    assert r.tolist() == [8.0]
    assert rank_in_bank(sims, torch.tensor([[0, 1, 3, 5, 7]]), torch.tensor([[True] * 4 + [False]])).numel() == 0


def test_label_noise_flips_exactly_the_rate():
    y = torch.arange(10).repeat(20)
    noisy = corrupt_labels(y, 0.25, 10, seed=0)
    assert (noisy != y).sum().item() == 50


def test_purity_of_top_m_of_the_unconstrained_bank():
    bank = torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in (0, 10, 20, 30, 90)])
    labels = torch.tensor([1, 1, 0, 0, 1])
    sims, own = bank[:1] @ bank.T, torch.tensor([0])         # position 0 is the query's own entry
    assert math.isclose(purity_top_m(sims, own, torch.tensor([1]), labels, 2), 100.0)     # entry 1
    assert math.isclose(purity_top_m(sims, own, torch.tensor([1]), labels, 4), 100 / 3)   # 1, 2, 3
    assert math.isclose(purity_top_m(sims, own, torch.tensor([1]), labels, 99), 50.0)     # m capped at |M|


def test_rank_plot_draws_purity_curves(tmp_path):
    from workloads.cmsf.plots import plot_rank_curve

    png = tmp_path / "f.png"
    plot_rank_curve([{"epoch": 1, "rank5_median": 40.0, "purity_c": 60.0, "purity_m": 62.0, "purity_top_m": 30.0},
                     {"epoch": 2, "rank5_median": 12.0, "purity_c": 80.0}], png, "t")
    assert png.stat().st_size > 1000
