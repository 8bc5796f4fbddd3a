"""PALM Fig. 2's depth profile of the task-mean LR importance, and the summary metrics a PALM run reports."""
from __future__ import annotations

import pytest

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload
from workloads.palm.importance_profile import DEPTH_BINS, depth_profile, profile_metrics


def test_depth_profile_groups_contiguous_layers():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    # 7 layers in 3 bins: sizes 3, 2, 2 (the first bins take the remainder)
    assert depth_profile(values, 3) == pytest.approx([2.0, 4.5, 6.5])
    assert depth_profile([0.5, 1.5], 10) == [0.5, 1.5]       # fewer layers than bins: one bin per layer
    assert depth_profile([], 4) == []


def test_profile_metrics_names_only_the_figures_tasks():
    table = {"glass_blur": {"a": 1.0, "b": 3.0}, "snow": {"a": 0.0, "b": 2.0}, "fog": {"a": 9.0, "b": 9.0}}
    out = profile_metrics(table, bins=1)
    assert out == {"importance_glass_blur_d0": 2.0, "importance_snow_d0": 1.0}


def test_a_palm_run_reports_the_fig2_profile(tmp_path, smoke_cache, monkeypatch):
    import workloads.palm.workload as palm_run

    real = palm_run.ctta_stream                 # the figure's two tasks only: keeps the test short
    monkeypatch.setattr(palm_run, "ctta_stream", lambda *a, **kw: real(*a, corruptions=("glass_blur", "snow"), **kw))
    wl = get_workload("palm")
    cfg = build_config(wl, {"method": "palm", "dataset": "synthetic", "max_batches_per_task": 1, "source_epochs": 1,
                            "n_per_task": 16})
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / "w", cache_dir=smoke_cache)
    wl.fn(cfg, ctx)
    for task in ("glass_blur", "snow"):
        values = [ctx.summaries[f"importance_{task}_d{k}"] for k in range(DEPTH_BINS)]
        assert all(v >= 0 for v in values)
