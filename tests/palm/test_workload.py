"""Each method runs a few CTTA steps in-process (LocalContext) at smoke scale on synthetic data."""
import math

import pytest

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload

import workloads.palm.workload  # noqa: F401  (registers "palm")

TINY = dict(dataset="synthetic", source_epochs=1, max_batches_per_task=1, cotta_augmentations=2)


@pytest.mark.parametrize("method", ["source", "bn_adapt", "tent", "cotta", "law", "surgical", "palm"])
def test_method_runs_ctta_steps(tmp_path, smoke_cache, method):
    wl = get_workload("palm")
    ctx = LocalContext(seed=0, scale="smoke", device="cpu", work_dir=tmp_path / "w", cache_dir=smoke_cache)
    wl.fn(build_config(wl, {**TINY, "method": method}), ctx)
    errors = {k: v for k, v in ctx.summaries.items() if "error" in k}
    assert errors, ctx.summaries
    assert all(0.0 <= float(v) <= 100.0 and not math.isnan(float(v)) for v in errors.values())
