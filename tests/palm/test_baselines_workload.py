"""AdaContrast and EcoTTA run as ``method`` options of the palm workload (LocalContext, smoke scale, synthetic)."""
import math

import pytest

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload

TINY = dict(dataset="synthetic", source_epochs=1, max_batches_per_task=1, adacontrast_queue=64,
            ecotta_warmup_epochs=1, ecotta_warmup_samples=64)


@pytest.mark.slow  # the adaptation itself; the 1-epoch source model comes from the shared smoke cache
@pytest.mark.parametrize("method", ["adacontrast", "ecotta"])
def test_baseline_runs_ctta_steps(tmp_path, smoke_cache, method):
    wl = get_workload("palm")
    ctx = LocalContext(seed=0, scale="smoke", device="cpu", work_dir=tmp_path / "w", cache_dir=smoke_cache)
    wl.fn(build_config(wl, {**TINY, "method": method}), ctx)
    errors = {k: v for k, v in ctx.summaries.items() if "error" in k}
    assert len(errors) == 16, ctx.summaries  # 15 tasks and the mean
    assert all(0.0 <= float(v) <= 100.0 and not math.isnan(float(v)) for v in errors.values())
    if method == "ecotta":  # the warm-up is cached for the next trial of the same source model
        assert list((smoke_cache / "ecotta_warmup").glob("synthetic-*.pt"))


def test_imagenetc_stream_has_the_codes_5000_samples_per_corruption():
    """sarthaxxxxx/PALM datasets/corruptions_datasets.py:52-88 with NUM_EX = -1: RobustBench's 5000-image list per
    corruption (robustbench/loaders.py:63); the CIFAR-C streams use all 10000."""
    from workloads.palm.config import PalmConfig, resolve

    assert resolve(PalmConfig(dataset="imagenetc")).n_per_task == 5000
    assert resolve(PalmConfig(dataset="cifar10c")).n_per_task == 0
    assert resolve(PalmConfig(dataset="imagenetc", n_per_task=50000)).n_per_task == 50000


def test_ecotta_paper_trial_requires_the_clean_training_set_for_its_warm_up(tmp_path):
    from workloads.palm.config import PalmConfig
    from workloads.palm.requirements import requirements

    names = {m: [r.name for r in requirements(PalmConfig(method=m, dataset="cifar10c"), tmp_path, "paper")]
             for m in ("ecotta", "palm")}
    assert "cifar10" in names["ecotta"] and "cifar10" not in names["palm"]
