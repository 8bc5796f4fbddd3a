"""Real Ray Tune sweeps of the test-only workloads, recorded in a temporary MLflow store."""
from __future__ import annotations

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from orchestrator.launch import ResourceError, run_sweep
from orchestrator.spec import load_sweep

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.usefixtures("ray_session")]


def _store(tmp_path):
    return f"sqlite:///{tmp_path / 'mlruns.db'}"


def _runs(uri, name, role="trial"):
    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=[name], filter_string=f"tags.`orchestrator.role` = '{role}'")
    return df


def test_grid_sweep_records_every_trial(write_sweep, tmp_path):
    path = write_sweep("""
        name: ray-grid
        workload: toy_quadratic
        reproduces: "Toy Table 1"
        params: {steps: 3, mode: artifact}
        grid: {x: [0.0, 2.0]}
        seeds: [0, 1]
    """)
    uri = _store(tmp_path)
    result = run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    assert result.n_trials == 4 and result.n_failed == 0
    df = _runs(uri, "ray-grid")
    assert len(df) == 4 and set(df["status"]) == {"FINISHED"}
    parent = _runs(uri, "ray-grid", "parent")
    assert len(parent) == 1 and parent["status"].iloc[0] == "FINISHED"
    assert set(df["tags.mlflow.parentRunId"]) == {parent["run_id"].iloc[0]}
    for _, row in df.iterrows():
        x, seed = float(row["params.x"]), int(row["params.seed"])
        assert row["tags.workload"] == "toy_quadratic" and row["tags.scale"] == "smoke"
        assert row["tags.reproduces"] == "Toy Table 1" and row["tags.seed"] == str(seed)
        assert row["tags.sweep"].endswith("sweep.yaml") and row["tags.git_commit"] and row["tags.host"]
        assert row["tags.orchestrator.device"] == "cpu"  # where the trial ran (cuda:N (GPU name) on a GPU)
        assert row["params.lr"] == "0.1" and row["params.steps"] == "3" and row["params.mode"] == "artifact"
        expected = (x - 2.0) ** 2 + 1.0 + 0.01 * seed
        assert row["metrics.objective"] == pytest.approx(expected)
        assert "metrics.time_total_s" not in df.columns or pd_isnan(row.get("metrics.time_total_s"))
        client = MlflowClient(uri)
        history = client.get_metric_history(row["run_id"], "stream/loss")
        assert [(m.step, round(m.value, 6)) for m in history] == [
            (s, round(expected + 3 - s, 6)) for s in range(3)]
        assert [a.path for a in client.list_artifacts(row["run_id"])] == ["checkpoint", "config.json", "note.txt"]
        # The trial's last Tune checkpoint reaches MLflow through the storage (orchestrator.artifacts).
        assert [a.path for a in client.list_artifacts(row["run_id"], "checkpoint")] == ["checkpoint/checkpoint.pt"]
        local = client.download_artifacts(row["run_id"], "checkpoint/checkpoint.pt", str(tmp_path))
        assert torch.load(local, weights_only=True) == {"step": 3}


def pd_isnan(v):
    import math

    return v is None or (isinstance(v, float) and math.isnan(v))


def test_optuna_search_runs_its_samples(write_sweep, tmp_path):
    path = write_sweep("""
        name: ray-optuna
        workload: toy_quadratic
        params: {steps: 1}
        grid: {offset: [1.0, 2.0]}
        seeds: [0, 1]
        search:
          metric: objective
          mode: min
          num_samples: 5
          space: {x: {uniform: [-1.0, 4.0]}, n_layers: {int: [1, 3]}, lr: {loguniform: [1e-4, 1e-1]}}
    """)
    uri = _store(tmp_path)
    result = run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    assert result.n_trials == 5 and result.n_failed == 0
    df = _runs(uri, "ray-optuna")
    assert len(df) == 5 and set(df["status"]) == {"FINISHED"}
    xs = df["params.x"].astype(float)
    assert xs.between(-1.0, 4.0).all() and xs.nunique() == 5
    assert set(df["params.n_layers"].astype(int)) <= {1, 2, 3}
    assert set(df["params.offset"].astype(float)) <= {1.0, 2.0}
    assert set(df["params.seed"].astype(int)) <= {0, 1}
    objective = (xs - 2) ** 2 + df["params.offset"].astype(float) + 0.01 * df["params.seed"].astype(int)
    assert (df["metrics.objective"].values == pytest.approx(objective.values))


def test_failing_trial_is_retried_then_failed_with_traceback(write_sweep, tmp_path):
    markers = tmp_path / "attempts"
    path = write_sweep(f"""
        name: ray-flaky
        workload: toy_flaky
        params: {{marker_dir: "{markers}"}}
        grid: {{fail: [true, false]}}
        max_failures: 1
    """)
    uri = _store(tmp_path)
    result = run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    assert result.n_failed == 1 and result.n_trials == 2
    assert len(list(markers.iterdir())) == 3  # failing trial: first try + one retry; the other: once
    df = _runs(uri, "ray-flaky")
    assert len(df) == 2  # the retry reuses the failing trial's run
    failed = df[df["params.fail"] == "True"].iloc[0]
    ok = df[df["params.fail"] == "False"].iloc[0]
    assert failed["status"] == "FAILED" and ok["status"] == "FINISHED"
    client = MlflowClient(uri)
    tb_path = client.download_artifacts(failed["run_id"], "traceback.txt", str(tmp_path))
    text = open(tb_path).read()
    assert "Traceback" in text and "toy_flaky failed on purpose" in text
    assert "toy_flaky failed on purpose" in failed["tags.error"]
    assert _runs(uri, "ray-flaky", "parent")["status"].iloc[0] == "FAILED"


def test_reproduce_style_skip_finished_starts_no_trial(write_sweep, tmp_path):
    path = write_sweep("""
        name: ray-skip
        workload: toy_quadratic
        params: {steps: 1}
        grid: {x: [0.0, 1.0]}
    """)
    uri = _store(tmp_path)
    first = run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", skip_finished=True, verbose=0)
    assert first.n_trials == 2
    second = run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", skip_finished=True, verbose=0)
    assert second.n_trials == 0 and second.n_skipped == 2 and second.parent_run_id is None
    assert len(_runs(uri, "ray-skip")) == 2
    # a new grid point runs alone; other scales are separate
    third = run_sweep(load_sweep(path, "smoke", {"x": 5.0}), tracking_uri=uri, storage_path=tmp_path / "ray", skip_finished=True, verbose=0)
    assert third.n_trials == 1 and third.n_skipped == 0


def test_gpu_request_without_gpus_fails_before_running(write_sweep, tmp_path):
    path = write_sweep("""
        name: ray-gpu
        workload: toy_quadratic
        resources: {cpu: 1, gpu: 0.25}
    """)
    uri = _store(tmp_path)
    with pytest.raises(ResourceError, match="asks for 0.25 GPU but the Ray cluster has no GPU"):
        run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    with pytest.raises(ResourceError, match="asks for 64 CPUs"):
        s = load_sweep(path, "smoke")
        s.resources.gpu = 0
        s.resources.cpu = 64
        run_sweep(s, tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    assert len(_runs(uri, "ray-gpu")) == 0


def test_asha_scheduler_and_concurrency(write_sweep, tmp_path):
    path = write_sweep("""
        name: ray-asha
        workload: toy_quadratic
        params: {steps: 4}
        grid: {x: [2.0, 1.0, 0.0, -1.0]}   # run in order, so later trials are worse than the first
        scheduler: {asha: {metric: loss, mode: min, grace_period: 1, max_t: 5}}
        max_concurrent: 1
    """)
    uri = _store(tmp_path)
    result = run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    assert result.n_failed == 0 and result.n_trials == 4
    df = _runs(uri, "ray-asha")
    assert len(df) == 4 and set(df["status"]) == {"FINISHED"}
    # ASHA stops the worse trials early: the best (x=2) streams all 4 steps, some other streams fewer
    client = MlflowClient(uri)
    lengths = {float(r["params.x"]): len(client.get_metric_history(r["run_id"], "stream/loss")) for _, r in df.iterrows()}
    assert lengths[2.0] == 4 and min(lengths.values()) < 4
    stopped = df[df.get("tags.stopped_early") == "true"] if "tags.stopped_early" in df else df.iloc[0:0]
    assert len(stopped) >= 1 and "2.0" not in set(stopped["params.x"])
