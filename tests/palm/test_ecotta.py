"""EcoTTA against an independent re-computation of Lily-Le/EcoTTA (the implementation the authors' page links),
float64, 1 and 3 steps: ecotta_models/wideresnet28.py (one_part_of_networks, build_meta_block) and main.py adapt().
The reference builds its own meta blocks from the small CNN's modules and uses torch's SGD and ``.backward()``."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from workloads.common.models import build_model
from workloads.palm.ecotta import (EcoTTA, EcoTTANet, ecotta_entropy, partition_sizes, self_distilled_regularization,
                                   warm_up, warmup_lr)

TOL = 1e-10


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return build_model("small_cnn", 10, image_size=8, width=4).double()


def test_partitions_follow_the_code_table_and_split_evenly_elsewhere():
    assert partition_sizes(12, 5) == (2, 2, 2, 2, 4) and partition_sizes(12, 4) == (2, 2, 4, 4)
    assert partition_sizes(16, 5) == (2, 2, 4, 4, 4) and partition_sizes(16, 4) == (3, 3, 5, 5)
    assert partition_sizes(6, 4) == (1, 1, 2, 2) and partition_sizes(9, 5) == (1, 2, 2, 2, 2)
    with pytest.raises(ValueError, match="ecotta_parts"):
        partition_sizes(6, 7)


def test_losses_match_explicit_formulas():
    a = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, -1.0], [1.5, 1.0]], dtype=torch.float64)
    assert abs(float(self_distilled_regularization(a, b)) - (1 + 1 + 1 + 2) / 4) < TOL
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 5.0, 0.0]], dtype=torch.float64)
    ents = [-sum(p * math.log(p) for p in row.softmax(0).tolist()) for row in logits]
    kept = [h for h in ents if h < 0.4 * math.log(3)]
    assert len(kept) == 2 and abs(float(ecotta_entropy(logits)) - sum(kept) / len(kept)) < TOL


def test_warmup_schedule_is_linear_then_multistep():
    assert warmup_lr(0.05, 1, 0, 10) == pytest.approx(0.005)
    assert warmup_lr(0.05, 1, 9, 10) == pytest.approx(0.05)
    assert [warmup_lr(0.05, e, 0, 10) for e in (2, 3, 6, 8, 10)] == pytest.approx([0.05, 0.01, 0.002, 4e-4, 4e-4])


class RefPart(nn.Module):
    """build_meta_block + one_part_of_networks, rebuilt from scratch."""

    def __init__(self, original, cin, cout, stride):
        super().__init__()
        self.original = original
        self.meta_bn = nn.BatchNorm2d(cout)
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.cal_mseloss, self.btsloss = False, None

    def forward(self, x):
        if self.cal_mseloss:
            x = x.detach()
        out1 = self.original(x)
        out = self.meta_bn(out1) + F.relu(self.bn(self.conv(x)))
        if self.cal_mseloss:
            self.btsloss = nn.L1Loss(reduction="none")(out, out1.detach()).mean()
        return out


def reference_net(model, ours: EcoTTANet):
    """The small CNN cut by hand: stem = features[0]; units features[1..6] in parts (1, 1, 2, 2) for K = 4."""
    f = model.net.features
    groups = [nn.Sequential(f[1]), nn.Sequential(f[2]), nn.Sequential(f[3], f[4]), nn.Sequential(f[5], f[6])]
    shapes = [(4, 4, 1), (4, 4, 2), (4, 8, 1), (8, 16, 2)]  # (cin, cout, stride): 8 px → 4 px → 2 px
    parts = nn.ModuleList(RefPart(g, *s) for g, s in zip(groups, shapes)).double()
    # the same initial meta weights (they start random); only the names differ
    renamed = {k.replace("meta_conv_bn.", "bn.").replace("meta_conv.", "conv."): v
               for k, v in ours.parts.state_dict().items()}
    parts.load_state_dict(renamed)

    def forward(x):
        h = f[0](model.normalize(x))
        for p in parts:
            h = p(h)
        return model.net.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))
    return parts, forward


@pytest.mark.parametrize("steps", [1, 3])
def test_ecotta_steps_match_the_reference(steps):
    g = torch.Generator().manual_seed(2)
    xs = [torch.rand(6, 3, 8, 8, generator=g, dtype=torch.float64) for _ in range(steps)]
    model, ref_model = small_cnn(), small_cnn()
    net = EcoTTANet(model, 4, 8, 3)
    assert [len(p.original) for p in net.parts] == [1, 1, 2, 2]
    with torch.no_grad():  # non-trivial meta BN affine parameters
        for p in net.meta_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    parts, forward = reference_net(ref_model, net)
    ref_model.requires_grad_(False)
    meta = [p for part in parts for n, p in part.named_parameters() if not n.startswith("original.")]
    for p in meta:
        p.requires_grad_(True)
    opt = torch.optim.SGD(meta, 5e-3, momentum=0.9)
    adapter = EcoTTA(net, lr=5e-3, lam=0.25)
    for x in xs:
        parts.train(), ref_model.train()
        opt.zero_grad()
        for p in parts:
            p.cal_mseloss = True
        forward(x)
        for p in parts:
            (p.btsloss * 0.25).backward()
        opt.step()
        opt.zero_grad()
        for p in parts:
            p.cal_mseloss = False
        out = forward(x)
        ent = -(out.softmax(1) * out.log_softmax(1)).sum(1)
        ent[torch.where(ent < 0.4 * math.log(10))].mean(0).backward()
        opt.step()
        assert torch.allclose(adapter.step(x), out.detach(), atol=TOL, rtol=0)
    for (n, a), (_, b) in zip(net.parts.named_parameters(), parts.named_parameters()):
        assert torch.allclose(a, b, atol=TOL, rtol=0), n
    # the original network never moves
    for a, b in zip(model.parameters(), small_cnn().parameters()):
        assert torch.equal(a, b)


def test_warm_up_trains_only_the_meta_networks():
    model = small_cnn()
    before = copy.deepcopy(model.state_dict())
    net = EcoTTANet(model, 4, 8, 3)
    meta_before = [p.detach().clone() for p in net.meta_parameters()]
    data = torch.utils.data.TensorDataset(torch.rand(16, 3, 8, 8, dtype=torch.float64), torch.randint(0, 10, (16,)))
    warm_up(net, data, epochs=2, batch_size=8)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert any(not torch.equal(a, b) for a, b in zip(net.meta_parameters(), meta_before))


def test_unknown_architecture_is_refused_with_the_supported_list():
    with pytest.raises(ValueError, match="wrn28_10"):
        EcoTTANet(nn.Sequential(nn.Conv2d(3, 3, 1)), 2, 8, 3)
