"""Source checkpoints in RobustBench's key layouts load into the project's models and compute the same logits.

The official-layout networks (tests/support/real_format.py) are written from RobustBench's architecture files (wide_resnet.py
BasicBlock/NetworkBlock, resnext.py + cifar100.py Hendrycks2020AugMixResNeXtNet, utils_architectures.py
normalize_model), at small depths: the key layout does not depend on depth.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from workloads.common.models import CheckpointError, Normalized, ResNeXtCifar, WideResNet, build_model
from workloads.palm.checkpoints import load_source_checkpoint

import workloads.palm.workload  # noqa: F401  (registers "palm")
from support.real_format import (RBAugMixResNeXt, RBNormalizer, RBWideResNet, randomise_bn,  # RobustBench's nets
                                 save_dataparallel)


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
