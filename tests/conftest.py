"""Shared test set-up: test-only workloads importable by Ray workers, caches under a temp folder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Ray workers inherit the environment: make `support.toy_workloads` importable there too.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.hookimpl(trylast=True)  # after xdist's own hook, which adds the group suffix to grouped node ids
def pytest_collection_modifyitems(config, items):
    import torch

    from support.xdist_groups import check_groups_kept

    check_groups_kept(config, items)  # fail_if_groups_lost (below) fails grouped tests when xdist lost the groups

    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


def pytest_runtest_setup(item):
    from support.xdist_groups import fail_if_groups_lost

    fail_if_groups_lost(item)


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory):
    """One workload cache folder for this worker's in-process smoke trials. What a workload caches there (source
    models, corrupted streams, warm-ups) is keyed by the settings that made it, so tests of different methods on
    the same smoke source model train it once instead of once per test (~10 s each on 2 cores)."""
    return tmp_path_factory.mktemp("smoke-cache")


@pytest.fixture(scope="module")
def ray_session():
    """One private local Ray for a module's Ray tests, shut down after its last one: tests that run later on the
    same worker (launch_session's "a Ray already up is left running", ensure_ray's settings) must find no Ray up."""
    from orchestrator.launch import ensure_ray
    import ray

    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()
