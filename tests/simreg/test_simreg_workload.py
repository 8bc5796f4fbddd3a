"""The simreg workload in-process with LocalContext at smoke scale, and its configuration errors."""
from __future__ import annotations

import pytest
import torch

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from workloads.common.models import CheckpointError


def run(tmp_path, scale="smoke", **params):
    wl = get_workload("simreg")
    cfg = build_config(wl, {"dataset": "synthetic", "steps": 3, "linear_epochs": 2, **params})
    ctx = LocalContext(seed=0, scale=scale, work_dir=tmp_path / "w", cache_dir=tmp_path / "c")
    wl.fn(cfg, ctx)
    return ctx


@pytest.mark.parametrize("params", [
    {"head": "mlp4"},
    {"head": "linear", "teachers": ["small_cnn", "small_resnet"]},
    {"method": "compress_1q", "augmentation": "different-weak-strong"},
    {"method": "compress_2q"},
])
def test_distillation_runs_and_reports(tmp_path, params):
    s = run(tmp_path, **params).summaries
    for key in ("nn1", "nn20", "linear", "head_nn1", "mse"):
        assert key in s
    assert 0 <= s["mse"] <= 4                      # squared distance of unit vectors
    assert ("mid_nn1" in s) == (params.get("head", "mlp4") == "mlp4")


def test_paper_teacher_needs_a_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint"):
        run(tmp_path, scale="paper", teachers=["resnet50"])


def test_missing_and_corrupt_teacher_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        run(tmp_path, scale="paper", teachers=[f"small_cnn@{tmp_path / 'none.pt'}"], student="small_cnn")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        run(tmp_path, scale="paper", teachers=[f"small_cnn@{bad}"], student="small_cnn")


def test_compress_refuses_several_teachers(tmp_path):
    with pytest.raises(ConfigError, match="one teacher"):
        run(tmp_path, method="compress_1q", teachers=["small_cnn", "small_resnet"])


def test_teacher_checkpoint_round_trip(tmp_path):
    from workloads.common.datasets import dataset_info
    from workloads.common.models import build_model

    info = dataset_info("synthetic")
    model = build_model("small_cnn", 10, mean=info.mean, std=info.std)
    path = tmp_path / "t.pt"
    torch.save(model.state_dict(), path)
    s = run(tmp_path, scale="paper", teachers=[f"small_cnn@{path}"], student="small_cnn", epochs=1, batch_size=64)
    assert "nn1" in s.summaries
