"""`orchestrator run --local`: trials in this process (no Ray), recorded in MLflow like Ray Tune trials."""
from __future__ import annotations

import mlflow
import pytest

from orchestrator.cli import main
from orchestrator.local import run_local
from orchestrator.spec import SweepError, load_sweep


def _runs(uri, name, role="trial"):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[name], filter_string=f"tags.`orchestrator.role` = '{role}'")


def test_local_grid_records_every_trial_with_metrics_tags_and_artifacts(write_sweep, tmp_path):
    path = write_sweep("""
        name: local-grid
        workload: toy_quadratic
        params: {steps: 3, mode: artifact}
        grid: {x: [0.0, 3.0]}
        seeds: [0, 1]
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    result = run_local(load_sweep(path, "smoke"), tracking_uri=uri, work_root=tmp_path / "work")
    assert result.n_trials == 4 and result.n_failed == 0
    df = _runs(uri, "local-grid")
    assert len(df) == 4 and set(df["status"]) == {"FINISHED"}
    # (x - 2)² + offset + 0.01·seed, computed by hand for the four (x, seed) pairs
    assert sorted(df["metrics.objective"]) == pytest.approx([2.0, 2.01, 5.0, 5.01])
    assert set(df["tags.orchestrator.device"]) == {"cpu"}
    parent = _runs(uri, "local-grid", "parent")
    assert len(parent) == 1 and set(df["tags.mlflow.parentRunId"]) == {parent["run_id"].iloc[0]}
    client = mlflow.MlflowClient(uri)
    rid = df["run_id"].iloc[0]
    # streamed metrics carry the stream/ prefix; the summary keeps the table's name, logged once
    assert [m.step for m in client.get_metric_history(rid, "stream/loss")] == [0, 1, 2]
    assert client.get_metric_history(rid, "loss") == []
    assert len(client.get_metric_history(rid, "objective")) == 1
    assert set(df["tags.orchestrator.summary"]) == {"logged"}
    # the first report of each trial carries a system-metrics sample
    assert [m.step for m in client.get_metric_history(rid, "system/cpu_percent")] == [0]
    assert sorted(df["tags.mlflow.runName"]) == ["x=0 seed=0", "x=0 seed=1", "x=3 seed=0", "x=3 seed=1"]
    assert {a.path for a in client.list_artifacts(rid)} >= {"note.txt", "config.json"}


def test_local_failure_is_recorded_and_the_next_trial_still_runs(write_sweep, tmp_path, capsys):
    path = write_sweep("""
        name: local-flaky
        workload: toy_flaky
        grid: {fail: [true, false]}
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    rc = main(["run", str(path), "--scale", "smoke", "--local", "--tracking-uri", uri])
    assert rc != 0
    df = _runs(uri, "local-flaky").set_index("params.fail")
    assert df.loc["True", "status"] == "FAILED" and "failed on purpose" in df.loc["True", "tags.error"]
    assert df.loc["False", "status"] == "FINISHED" and df.loc["False", "metrics.value"] == 1.0


def test_local_refuses_an_optuna_search(write_sweep):
    path = write_sweep("""
        name: local-search
        workload: toy_quadratic
        search:
          algorithm: optuna
          metric: objective
          mode: min
          num_samples: 2
          space: {x: {uniform: [0, 4]}}
    """)
    with pytest.raises(SweepError, match="needs Ray Tune"):
        run_local(load_sweep(path, "smoke"), tracking_uri="sqlite:///:memory:")
