"""In-process (LocalContext) runs of the workload, its sweeps, and its configuration errors."""
from pathlib import Path

import pytest

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from orchestrator.spec import load_sweep

TINY = dict(dataset="synthetic", n_train=96, n_test=32, source_epochs=1, finetune_epochs=1, attack_steps=2,
            attack_batch_size=32, batch_size=32, embed_dim=32, depth=4, num_heads=2, gate_center=3.0)
SWEEPS = sorted((Path(__file__).parents[2] / "sweeps" / "slowformer").glob("*.yaml"))


def _run(tmp_path, **params):
    wl = get_workload("slowformer")
    ctx = LocalContext(seed=0, scale="smoke", device="cpu", work_dir=tmp_path / "w", cache_dir=tmp_path / "cache")
    wl.fn(build_config(wl, {**TINY, **params}), ctx)
    return ctx


@pytest.mark.parametrize("method", ["avit", "ats", "adavit"])
def test_slowformer_run_reports_compute_and_artifacts(tmp_path, method):
    ctx = _run(tmp_path, method=method)
    s = ctx.summaries
    assert 0 < s["gflops_clean_exact"] <= s["gflops_dense_exact"] + 1e-12
    assert s["gflops_exact"] <= s["gflops_dense_exact"] + 1e-12
    # paper convention (AdaViT: F_max is its own table with everything on, which charges the decision layers)
    assert 0 < s["gflops_clean"] <= s["gflops_dense"] + 1e-12 and s["gflops"] <= s["gflops_dense"] + 1e-12
    assert s["tokens_l1"] == 65.0  # every token runs the first block
    assert {"adversary.png", "token_drop.png"} <= set(ctx.artifacts)
    assert ctx.metric_history("attack_loss")


def test_no_attack_equals_clean_and_random_location_runs(tmp_path):
    s = _run(tmp_path, attack="none").summaries
    assert s["gflops"] == s["gflops_clean"] and s["top1"] == s["top1_clean"]
    s = _run(tmp_path, location="random", attack="random").summaries
    assert s["gflops"] > 0


@pytest.mark.parametrize("bad, match", [
    (dict(epsilon=16.0, attack="tap"), "only defined for attack=slowformer"),
    (dict(epsilon=16.0, location="random"), "no location"),
    (dict(accuracy="preserve", attack="ntap"), "accuracy: agnostic"),
    (dict(defense=True, method="ats"), "A-ViT only"),
    (dict(method="ats", efficient_checkpoint="x.pt"), "parameter-free"),
    (dict(tap_target=10, attack="tap"), "not a class"),
    (dict(arch="resnet18"), "not a ViT"),
    (dict(target_depth=2.5), "0-based layer index"),
])
def test_impossible_options_raise_clear_errors(tmp_path, bad, match):
    with pytest.raises(ConfigError, match=match):
        _run(tmp_path, **bad)


def test_missing_and_corrupt_checkpoints_raise(tmp_path):
    from workloads.common.models import CheckpointError

    # paper scale (require_checkpoints) never trains a stand-in: it names what to download
    with pytest.raises(CheckpointError, match="deit_tiny_patch16_224-a1311bcf.pth"):
        _run(tmp_path, require_checkpoints=True, arch="deit_tiny_patch16_224", dataset="imagenet")
    with pytest.raises(CheckpointError, match="NVlabs/A-ViT"):
        _run(tmp_path, require_checkpoints=True, checkpoint="deit.pth", dataset="imagenet")
    # off ImageNet nothing is distributed: the error says how to make the file, not which release to download
    with pytest.raises(CheckpointError, match="deit_tiny_patch16_224-synthetic.pth.*not distributed: fine-tune"):
        _run(tmp_path, require_checkpoints=True, arch="deit_tiny_patch16_224")

    with pytest.raises(CheckpointError, match="does not exist"):
        _run(tmp_path, checkpoint=str(tmp_path / "missing.pt"))
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        _run(tmp_path, checkpoint=str(bad))


def test_missing_dataset_raises(tmp_path):
    from workloads.common.datasets import DatasetMissingError

    wl = get_workload("slowformer")
    ctx = LocalContext(seed=0, scale="smoke", device="cpu", work_dir=tmp_path, cache_dir=tmp_path / "c",
                       data_root=tmp_path / "nodata")
    with pytest.raises(DatasetMissingError):
        wl.fn(build_config(wl, {**TINY, "dataset": "cifar10"}), ctx)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
@pytest.mark.parametrize("scale", ["smoke", "mini", "paper"])
def test_sweeps_load_at_every_scale(path, scale):
    trials = load_sweep(path, scale).trials()
    assert trials and all(t.params["arch"] for t in trials)
    if scale == "smoke":
        assert all(t.params["dataset"] == "synthetic" and t.params["attack_steps"] <= 5 for t in trials)
        assert len(trials) <= 4


def test_defense_grows_a_patch_pool_every_fifth_of_an_epoch(tmp_path):
    # 96 samples / batch 32 = 3 iterations; a new patch every round(0.2·3)=1 iteration → 3 pool patches
    s = _run(tmp_path, defense=True, defense_patch_steps=1).summaries
    assert s["defense_pool_size"] == 3.0
    assert "attack_success" in s or s["gflops_clean"] == s["gflops_dense"]
