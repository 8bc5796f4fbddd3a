"""The cmsf workload in-process with LocalContext at smoke scale, and its configuration errors."""
from __future__ import annotations

import pytest

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload


def run(tmp_path, scale="smoke", **params):
    wl = get_workload("cmsf")
    cfg = build_config(wl, {"dataset": "synthetic", "steps": 3, "linear_epochs": 2, "diagnostics_every": 1, **params})
    ctx = LocalContext(seed=0, scale=scale, work_dir=tmp_path / "w", cache_dir=tmp_path / "c")
    wl.fn(cfg, ctx)
    return ctx


@pytest.mark.parametrize("method", ["byol", "msf", "cmsf_self", "cmsf_sup", "cmsf_semi"])
def test_each_setting_trains_and_reports(tmp_path, method):
    ctx = run(tmp_path, method=method, pseudo_epochs=2)
    s = ctx.summaries
    for key in ("nn1", "nn20", "linear", "nn_share", "step_ms"):
        assert key in s and s[key] >= 0
    assert 0 <= s["nn1"] <= 100 and s["steps"] == 3
    if method != "byol":
        assert "purity_c" in s and "rank5_median" in s
    if method == "cmsf_sup":
        assert s["purity_c"] == 100.0          # same-label constraint: every chosen neighbour shares the label


def test_cmsf_self_uses_the_cache_after_one_epoch(tmp_path):
    # 256 images, batch 64, bank of 128: entries are evicted into the cache from step 3 on,
    # so by the second epoch C_i differs from M and the CMSF term differs from the MSF one.
    ctx = run(tmp_path, method="cmsf_self", steps=8, memory_size=128)
    assert ctx.summaries["steps"] == 8
    assert (tmp_path / "w" / "fig2.5_rank5_median.png").is_file()


@pytest.mark.parametrize("params, match", [
    ({"method": "byol", "topk": 5}, "k=1"),
    ({"method": "msf", "top_all": True}, "top_all"),
    ({"method": "cmsf_self", "label_noise": 0.1}, "label_noise"),
    ({"method": "cmsf_semi", "labelled_fraction": 0.0}, "labelled_fraction"),
    ({"dataset": "cifar10c"}, "not supported"),
    ({"batch_size": 100000}, "batch_size"),
])
def test_impossible_options_raise_clear_errors(tmp_path, params, match):
    with pytest.raises(ConfigError, match=match):
        run(tmp_path, **params)


def test_coarse_labels_for_imagenet_need_a_map(tmp_path):
    from workloads.cmsf.labels import coarse_labels
    import torch

    with pytest.raises(FileNotFoundError, match="coarse label map"):
        coarse_labels(torch.tensor([0, 1]), "imagenet", str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="coarse_map"):
        coarse_labels(torch.tensor([0, 1]), "imagenet")
