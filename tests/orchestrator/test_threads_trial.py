"""A trial's torch / OpenMP / MKL threads equal its CPUs, also in a reused Ray actor (orchestrator.trial_threads)."""
from __future__ import annotations

import os

import mlflow
import pytest
import torch

import support.resource_workloads  # noqa: F401  (registers toy_threads)
from orchestrator.launch import run_sweep
from orchestrator.spec import load_sweep
from orchestrator.trial_threads import THREAD_ENV_VARS, limit_threads, threads_for


@pytest.mark.parametrize("cpus, threads", [(None, 1), (0.25, 1), (1, 1), (1.9, 1), (2, 2), (7.5, 7)])
def test_threads_are_the_whole_cpus_held(cpus, threads):
    assert threads_for(cpus) == threads


def test_limit_threads_sets_torch_and_the_env(monkeypatch):
    before = torch.get_num_threads()
    for name in THREAD_ENV_VARS:
        monkeypatch.setenv(name, "16")
    try:
        assert limit_threads(1.5) == 1
        assert torch.get_num_threads() == 1
        assert [os.environ[n] for n in THREAD_ENV_VARS] == ["1", "1", "1"]
    finally:
        torch.set_num_threads(before)


@pytest.mark.xdist_group("ray")
@pytest.mark.usefixtures("ray_session")
def test_reused_actor_starts_each_trial_with_its_cpus(write_sweep, tmp_path):
    # Each trial leaves 2 torch threads set; the next trial, one at a time on the same reused actor, must
    # still start with its 1 CPU's worth (Ray sets OMP_NUM_THREADS only when a worker process starts).
    path = write_sweep("""
        name: threads
        workload: toy_threads
        grid: {x: [0.0, 1.0, 2.0]}
        max_concurrent: 1
        resources: {cpu: 1}
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    result = run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    assert result.n_failed == 0
    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=["threads"], filter_string="tags.`orchestrator.role` = 'trial'")
    assert len(df) == 3
    assert set(df["metrics.torch_threads"]) == {1.0}
    assert set(df["metrics.omp_threads"]) == {1.0} and set(df["metrics.mkl_threads"]) == {1.0}
    assert df["metrics.worker_pid"].nunique() < 3  # an actor was reused, so the leftover threads were really there
