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
    {"head": "linear", "head_reading": "official"},
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
    with pytest.raises(ConfigError, match="none.pt not found"):   # named before any model is built
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


def test_transfer_evaluation_and_bad_transfer_names(tmp_path):
    s = run(tmp_path, head="linear", transfer=["synthetic"]).summaries
    assert 0 <= s["transfer_synthetic"] <= 100
    with pytest.raises(ConfigError, match="digits-c:<corruption>:<severity>"):
        run(tmp_path, transfer=["digits-c:fog"])
    with pytest.raises(ConfigError, match="not supported"):
        run(tmp_path, transfer=["imagenet"])


def test_named_paper_teachers_resolve_under_the_data_root(tmp_path):
    from workloads.simreg.teachers import parse_teacher
    from workloads.simreg.transfer import metric_name

    assert parse_teacher("byol", "paper", tmp_path) == ("resnet50", str(tmp_path / "checkpoints" / "simreg" / "byol.pth"))
    assert parse_teacher("resnet18@t/r18.pt", "paper", tmp_path) == ("resnet18", str(tmp_path / "t" / "r18.pt"))
    assert parse_teacher("small_cnn", "mini", tmp_path) == ("small_cnn", "")
    assert metric_name("digits-c:fog:5") == "transfer_digits_c_fog_5"


def test_compress_2q_student_bank_comes_from_a_momentum_student(tmp_path, monkeypatch):
    import workloads.simreg.workload as wl_mod

    seen = []
    real = wl_mod.momentum_update

    def spy(target, online, m):
        seen.append(m)
        return real(target, online, m)

    monkeypatch.setattr(wl_mod, "momentum_update", spy)
    run(tmp_path, method="compress_2q")
    assert seen == [0.999] * 3                     # one EMA step of the key student per training step
    seen.clear()
    run(tmp_path, method="compress_1q")
    assert seen == []                              # 1q has no student bank
