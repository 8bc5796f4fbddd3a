"""What the CLI prints and keeps for a researcher: one line per trial, the closing line naming the
experiment and parent run, the parent's table, and an Optuna study that optuna-dashboard opens and a
second launch continues (issue 16 items 4, 10, 14)."""
from __future__ import annotations

import mlflow
import pytest

from orchestrator.cli import main
from orchestrator.optuna_study import storage_url, study_name


def test_local_run_prints_trial_lines_and_the_closing_line(write_sweep, tmp_path, capsys):
    path = write_sweep("""
        name: ui-local
        workload: toy_quadratic
        params: {steps: 2}
        grid: {x: [0.0, 1.0]}
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    assert main(["run", str(path), "--scale", "smoke", "--local", "--tracking-uri", uri]) == 0
    out = capsys.readouterr()
    lines = [ln for ln in out.err.splitlines() if ln.startswith("done")]
    assert len(lines) == 2 and "x=1 seed=0" in lines[1] and "objective=2" in lines[1]  # (1-2)^2 + 1
    mlflow.set_tracking_uri(uri)
    parent = mlflow.search_runs(experiment_names=["ui-local"], filter_string="tags.`orchestrator.role` = 'parent'")
    rid = parent["run_id"].iloc[0]
    assert f"experiment ui-local, parent run {rid} — `orchestrator ui`" in out.out
    # no table reads this sweep: the parent still gets the per-config aggregates
    agg = mlflow.MlflowClient(uri).download_artifacts(rid, "aggregates.csv", str(tmp_path))
    assert "objective_mean" in open(agg).read()


def test_storage_is_beside_the_mlflow_store(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCHESTRATOR_OPTUNA_STORAGE", raising=False)
    assert storage_url(f"sqlite:///{tmp_path}/m/mlruns.db") == f"sqlite:///{tmp_path}/m/optuna.db"
    monkeypatch.setenv("ORCHESTRATOR_OPTUNA_STORAGE", "sqlite:////elsewhere/o.db")
    assert storage_url("http://server:5000") == "sqlite:////elsewhere/o.db"


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
@pytest.mark.usefixtures("ray_session")
def test_optuna_study_is_stored_and_a_second_launch_continues_it(write_sweep, tmp_path, monkeypatch):
    import optuna

    from orchestrator.launch import run_sweep
    from orchestrator.spec import load_sweep

    monkeypatch.delenv("ORCHESTRATOR_OPTUNA_STORAGE", raising=False)
    path = write_sweep("""
        name: ui-search
        workload: toy_quadratic
        params: {steps: 1}
        search:
          algorithm: optuna
          metric: objective
          mode: min
          num_samples: 2
          space: {x: {uniform: [0.0, 4.0]}}
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    sweep = load_sweep(path, "smoke")
    run_sweep(sweep, tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    study = optuna.load_study(study_name=study_name(sweep), storage=storage_url(uri))
    assert study.study_name == "ui-search-smoke" and len(study.trials) == 2
    # each stored trial's value is the toy objective of its sampled x
    for t in study.trials:
        assert t.value == pytest.approx((t.params["x"] - 2.0) ** 2 + 1.0)
    run_sweep(sweep, tracking_uri=uri, storage_path=tmp_path / "ray2", verbose=0)
    assert len(optuna.load_study(study_name=study_name(sweep), storage=storage_url(uri)).trials) == 4
