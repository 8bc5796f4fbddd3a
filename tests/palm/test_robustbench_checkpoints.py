"""Source checkpoints in RobustBench's key layouts load into the project's models and compute the same logits.

The official-layout networks below are written here from RobustBench's architecture files (wide_resnet.py
BasicBlock/NetworkBlock, resnext.py + cifar100.py Hendrycks2020AugMixResNeXtNet, utils_architectures.py
normalize_model), at small depths: the key layout does not depend on depth.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from workloads.common.models import CheckpointError, Normalized, ResNeXtCifar, WideResNet, build_model
from workloads.palm.checkpoints import load_source_checkpoint

import workloads.palm.workload  # noqa: F401  (registers "palm")


class RBBasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.equal = cin == cout
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        if not self.equal:
            x = F.relu(self.bn1(x))
            out = x
        else:
            out = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return (x if self.equal else self.convShortcut(x)) + out


class RBNetworkBlock(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.layer = nn.Sequential(*[RBBasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                                     for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class RBWideResNet(nn.Module):
    def __init__(self, depth=10, widen=2, classes=10):
        super().__init__()
        n, ch = (depth - 4) // 6, [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(3, ch[0], 3, 1, 1, bias=False)
        self.block1, self.block2 = RBNetworkBlock(n, ch[0], ch[1], 1), RBNetworkBlock(n, ch[1], ch[2], 2)
        self.block3 = RBNetworkBlock(n, ch[2], ch[3], 2)
        self.bn1, self.fc = nn.BatchNorm2d(ch[3]), nn.Linear(ch[3], classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.block3(self.block2(self.block1(self.conv1(x))))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


class RBResNeXtBottleneck(nn.Module):
    def __init__(self, inplanes, planes, cardinality, base_width, stride, downsample):
        super().__init__()
        d = int(math.floor(planes * (base_width / 64.0))) * cardinality
        self.conv_reduce, self.bn_reduce = nn.Conv2d(inplanes, d, 1, bias=False), nn.BatchNorm2d(d)
        self.conv_conv = nn.Conv2d(d, d, 3, stride, 1, groups=cardinality, bias=False)
        self.bn = nn.BatchNorm2d(d)
        self.conv_expand, self.bn_expand = nn.Conv2d(d, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        y = F.relu(self.bn_reduce(self.conv_reduce(x)))
        y = self.bn_expand(self.conv_expand(F.relu(self.bn(self.conv_conv(y)))))
        return F.relu((x if self.downsample is None else self.downsample(x)) + y)


class RBAugMixResNeXt(nn.Module):
    def __init__(self, depth=11, cardinality=4, base_width=32, classes=100):
        super().__init__()
        n, self.inplanes = (depth - 2) // 9, 64
        self.conv_1_3x3, self.bn_1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)
        self.stage_1 = self._stage(64, n, 1, cardinality, base_width)
        self.stage_2 = self._stage(128, n, 2, cardinality, base_width)
        self.stage_3 = self._stage(256, n, 2, cardinality, base_width)
        self.classifier = nn.Linear(1024, classes)
        self.register_buffer("mu", torch.tensor([0.5] * 3).view(1, 3, 1, 1))
        self.register_buffer("sigma", torch.tensor([0.5] * 3).view(1, 3, 1, 1))

    def _stage(self, planes, n, stride, cardinality, base_width):
        blocks = []
        for i in range(n):
            down = None
            if i == 0 and (stride != 1 or self.inplanes != planes * 4):
                down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                     nn.BatchNorm2d(planes * 4))
            blocks.append(RBResNeXtBottleneck(self.inplanes, planes, cardinality, base_width, stride if i == 0 else 1,
                                              down))
            self.inplanes = planes * 4
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = F.relu(self.bn_1(self.conv_1_3x3((x - self.mu) / self.sigma)))
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


class RBNormalizer(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.as_tensor(std).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def save_dataparallel(model: nn.Module, path):
    """As RobustBench's zoo files are saved: {'state_dict': {'module.<key>': tensor}}."""
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)


def test_wrn_standard_layout(tmp_path):
    torch.manual_seed(0)
    official = randomise_bn(RBWideResNet(depth=10, widen=2))
    assert any(".layer.0.convShortcut." in k for k in official.state_dict())
    save_dataparallel(official, tmp_path / "Standard.pt")
    ours = Normalized(WideResNet(10, 2, 10), (0.3, 0.3, 0.3), (0.2, 0.2, 0.2))  # as built from dataset_info
    load_source_checkpoint(ours, "wrn28_10", tmp_path / "Standard.pt").eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), official(x), atol=1e-5)  # includes the identity input normalisation


def test_resnext_augmix_layout(tmp_path):
    torch.manual_seed(0)
    official = randomise_bn(RBAugMixResNeXt(depth=11))
    assert "mu" in official.state_dict() and any(".downsample.1." in k for k in official.state_dict())
    save_dataparallel(official, tmp_path / "augmix.pt")
    ours = Normalized(ResNeXtCifar(11, 4, 32, 100), (0.0,) * 3, (1.0,) * 3)
    load_source_checkpoint(ours, "resnext29_32x4d", tmp_path / "augmix.pt").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), official(x), atol=1e-5)


def test_resnext29_builder_is_robustbench_s_6_9m_parameter_model():
    net = build_model("resnext29_32x4d", 100).net
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(6.9e6, rel=0.01)  # PALM Table 5: "of 6.8M"


def test_resnet50_standard_r50_layout(tmp_path):
    torch.manual_seed(0)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    official = nn.Sequential()
    official.add_module("normalize", RBNormalizer(mean, std))
    official.add_module("model", randomise_bn(torchvision.models.resnet50(weights=None)))
    official.eval()
    torch.save(official.state_dict(), tmp_path / "Standard_R50.pt")
    ours = build_model("resnet50", 1000, mean=(0.5,) * 3, std=(0.25,) * 3)
    load_source_checkpoint(ours, "resnet50", tmp_path / "Standard_R50.pt").eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), official(x), atol=1e-4)


def test_wrong_model_in_the_layout_names_the_mismatch(tmp_path):
    save_dataparallel(RBWideResNet(depth=10, widen=2), tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="RobustBench model 'Standard'"):
        load_source_checkpoint(Normalized(WideResNet(10, 4, 10), (0.0,) * 3, (1.0,) * 3), "wrn28_10", tmp_path / "c.pt")


def test_missing_paper_checkpoint_names_what_to_download_and_where(tmp_path):
    wl = get_workload("palm")
    ctx = LocalContext(seed=0, scale="paper", device="cpu", work_dir=tmp_path / "w", cache_dir=tmp_path / "c",
                       data_root=tmp_path / "data")
    with pytest.raises(ConfigError) as err:
        wl.fn(build_config(wl, {"dataset": "cifar100c", "method": "source"}), ctx)
    text = str(err.value)
    assert "Hendrycks2020AugMix_ResNeXt" in text and str(tmp_path / "data" / "checkpoints") in text
    assert "Nothing is downloaded" in text
