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
    trials = optuna.load_study(study_name=study_name(sweep), storage=storage_url(uri)).trials
    assert len(trials) == 4
    # the second launch continues the search: it does not replay the first launch's random start-up draws
    assert len({t.params["x"] for t in trials}) == 4


def test_a_continued_study_gets_only_samples_it_lacks_and_a_fresh_seed(tmp_path):
    import optuna

    from orchestrator.optuna_study import continue_study

    storage = f"sqlite:///{tmp_path}/optuna.db"
    points, rewards = [{"x": 0.5, "seed": 0}, {"x": 0.7, "seed": 0}], [1.0, 2.0]
    study = {"storage": storage, "study_name": "s-smoke"}
    assert continue_study(study, 3, points, rewards) == (3, points, rewards)   # no study yet: every sample
    held = optuna.create_study(study_name="s-smoke", storage=storage)
    dists = {"x": optuna.distributions.FloatDistribution(0, 1), "seed": optuna.distributions.IntDistribution(0, 1)}
    held.add_trial(optuna.trial.create_trial(params={"seed": 0, "x": 0.5}, value=1.0, distributions=dists))
    held.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={"seed": 0, "x": 0.7},
                                             distributions=dists))
    # a failed trial's point is run again, the completed one is not given twice; two trials held: seed 3 + 2
    assert continue_study(study, 3, points, rewards) == (5, [{"x": 0.7, "seed": 0}], [2.0])
    held.add_trial(optuna.trial.create_trial(params={"x": 0.7, "seed": 0}, value=2.0, distributions=dists))
    assert continue_study(study, 3, points, rewards) == (6, None, None)
    assert continue_study({}, 3, points, rewards) == (3, points, rewards)      # no persistent study: unchanged


def test_run_summary_puts_the_headline_first_and_fits_the_console(monkeypatch, capsys):
    from types import SimpleNamespace

    from orchestrator.cli import print_summary
    from orchestrator.launch import LaunchResult

    monkeypatch.setenv("COLUMNS", "100")
    metrics = {f"error_task{i:02d}": 10.0 + i for i in range(40)}
    rows = [{"trial": f"method=m{j} seed=0", "status": "OK", **metrics, "mean_error": 12.5 + j} for j in range(3)]
    result = LaunchResult("palm-table1", "p", 3, 0, 0, None, rows)
    sweep = SimpleNamespace(search=SimpleNamespace(metric="mean_error"), reproduces=None)
    print_summary(result, sweep)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    header = next(line for line in out.splitlines() if "trial" in line and "status" in line)
    assert header.index("status") < header.index("mean_error") < header.index("error_task00")
    assert "12.5" in out and "14.5" in out                      # every trial's headline value is shown
    shown = sum(f"error_task{i:02d}" in out for i in range(40))
    assert 0 < shown < 40 and f"{40 - shown} more summary metric(s)" in out
