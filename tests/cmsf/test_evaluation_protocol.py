"""The authors' frozen-feature protocol shared by CMSF and SimReg (eval_knn.py majority vote, eval_linear.py probe)
and CMSF_semi's pseudo-labeller rounds, against independent float64 computations on tiny inputs."""
from __future__ import annotations

import copy
from collections import Counter

import torch
import torch.nn.functional as F

from workloads.cmsf.pseudo_labels import build_pseudo_labeller, train_pseudo_labeller
from workloads.common.knn import knn_classify, majority_vote, probe_milestones, probe_standardise


def official_vote(neighbour_labels):
    """eval_knn.py l.490-493 without the shuffle: Counter, then the largest count (ties: any of them)."""
    out = []
    for row in neighbour_labels.tolist():
        counts = Counter(row)
        best = max(counts.values())
        out.append({c for c, n in counts.items() if n == best})
    return out


def test_majority_vote_matches_counter_and_breaks_ties_only_among_the_tied():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (200, 5), generator=g)
    allowed = official_vote(labels)
    picked = majority_vote(labels, 4, generator=torch.Generator().manual_seed(1))
    assert all(p in a for p, a in zip(picked.tolist(), allowed))
    tie = torch.tensor([[2, 0, 2, 0, 1]])            # 0 and 2 tied: both must come up over seeds, never 1
    seen = {majority_vote(tie, 3, generator=torch.Generator().manual_seed(s)).item() for s in range(40)}
    assert seen == {0, 2}
    assert majority_vote(tie, 3).item() == 0         # without a generator: the lowest tied class


def test_20nn_is_unweighted_on_l2_normalised_features():
    # query [1, 0]; neighbours: class 0 at cos 1.0 (once), class 1 at cos 0.8 (twice): the plain vote says 1
    # (a exp(sim/0.07)-weighted vote would say 0); scaling a training feature does not matter (l2-normalised)
    bank = torch.tensor([[3.0, 0.0], [0.8, 0.6], [8.0, -6.0], [-1.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 0])
    q = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    assert knn_classify(bank, labels, q, k=3, num_classes=2).item() == 1
    assert knn_classify(bank, labels, q, k=3, num_classes=2, weighted=True, temperature=0.07).item() == 0


def test_probe_standardisation_is_normalize_then_full_batch_norm():
    g = torch.Generator().manual_seed(2)
    tr, te = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    a, b = probe_standardise(tr, te)
    trn = tr / tr.norm(dim=1, keepdim=True)
    mean = trn.sum(0) / 7
    var = ((trn - mean) ** 2).sum(0) / 6                                  # torch.var_mean: unbiased
    inv_std = 1 / torch.sqrt(var + 1e-5)
    assert torch.allclose(a, (trn - mean) * inv_std, atol=1e-12)
    assert torch.allclose(b, (te / te.norm(dim=1, keepdim=True) - mean) * inv_std, atol=1e-12)
    assert probe_milestones(40) == [15, 30] and probe_milestones(8) == [3, 6]


def manual_sgd_step(net, x, y, lr, wd):
    """One plain SGD step from a fresh optimiser (momentum buffer empty: the first step is p -= lr (g + wd p))."""
    net.train()
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= lr * (p.grad + wd * p)


def test_each_pseudo_label_round_continues_the_same_mlp_with_a_new_sgd():
    torch.manual_seed(0)
    clf = build_pseudo_labeller(4, 3).double()
    assert [type(m).__name__ for m in clf] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert clf[0].out_features == 8 and clf[3].out_features == 3
    ref = copy.deepcopy(clf)
    g = torch.Generator().manual_seed(1)
    x = F.normalize(torch.randn(6, 4, generator=g, dtype=torch.float64), dim=1)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    # two rounds of one epoch with one full batch: a kept optimiser would carry momentum into round 2
    for _ in range(2):
        train_pseudo_labeller(clf, x, y, epochs=1, batch_size=6, generator=torch.Generator().manual_seed(0))
        manual_sgd_step(ref, x, y, lr=0.01, wd=1e-4)
    for a, b in zip(clf.parameters(), ref.parameters()):
        assert torch.allclose(a, b, atol=1e-14, rtol=0)
    assert not clf.training                                              # used in eval mode during CMSF training


def test_a_round_of_several_steps_uses_momentum_within_the_round():
    torch.manual_seed(0)
    clf = build_pseudo_labeller(4, 3).double()
    ref = copy.deepcopy(clf)
    g = torch.Generator().manual_seed(1)
    x = F.normalize(torch.randn(6, 4, generator=g, dtype=torch.float64), dim=1)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    train_pseudo_labeller(clf, x, y, epochs=3, batch_size=6, generator=torch.Generator().manual_seed(0))
    bufs = [torch.zeros_like(p) for p in ref.parameters()]
    ref.train()
    for step in range(3):                                                # SGD with momentum 0.9, wd 1e-4
        ref.zero_grad()
        F.cross_entropy(ref(x), y).backward()
        with torch.no_grad():
            for p, b in zip(ref.parameters(), bufs):
                d = p.grad + 1e-4 * p
                b.copy_(d if step == 0 else 0.9 * b + d)
                p -= 0.01 * b
    for a, b in zip(clf.parameters(), ref.parameters()):
        assert torch.allclose(a, b, atol=1e-14, rtol=0)
