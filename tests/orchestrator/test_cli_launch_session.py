"""One Ray session per command: ``reproduce`` starts Ray once for all its sweeps (beside the MLflow store's
creation) and shuts it down once; an unusable store is refused before Ray starts. Ray itself is replaced by
counters here (``tests/results/test_reproduce_ray.py`` runs the real thing)."""
from __future__ import annotations

import textwrap

import pytest

import support.toy_workloads  # noqa: F401  (registers toy_quadratic)
from orchestrator.launch import LaunchResult
from orchestrator.store_preflight import StoreError
from results.spec import TableSpec


@pytest.fixture
def counted(monkeypatch):
    import orchestrator.launch as launch
    import orchestrator.warm_start as warm_start

    calls = {"ray": 0, "shutdown": 0, "sweeps": []}

    def fake_ensure_ray(address=None, num_cpus=None):
        calls["ray"] += 1

    def fake_run_sweep(sweep, **kw):
        calls["sweeps"].append(sweep.name)
        if sweep.name == "session-boom":
            raise RuntimeError("a sweep failed")
        return LaunchResult(sweep.name, None, 1, 0, 0)

    def fake_shutdown():
        calls["shutdown"] += 1

    monkeypatch.setattr(launch, "ensure_ray", fake_ensure_ray)
    monkeypatch.setattr(launch, "run_sweep", fake_run_sweep)
    monkeypatch.setattr(warm_start, "shutdown", fake_shutdown)
    return calls


def tables(tmp_path, *names: str) -> list[TableSpec]:
    paths = []
    for name in names:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(f"""
            name: {name}
            workload: toy_quadratic
            grid: {{x: [0.0, 1.0]}}
        """))
        paths.append(str(path))
    # two tables that share a sweep: it runs once
    return [TableSpec(id="t1", title="T1", paper="PALM", sweeps=tuple(paths), rows=("x",), metrics=("objective",)),
            TableSpec(id="t2", title="T2", paper="PALM", sweeps=(paths[0],), rows=("x",), metrics=("objective",))]


def test_reproduce_starts_ray_once_and_creates_the_experiments(tmp_path, counted):
    from mlflow.tracking import MlflowClient

    from results.reproduce import run_table_sweeps

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    results = run_table_sweeps(tables(tmp_path, "session-a", "session-b", "session-c"), "smoke", uri)
    assert counted == {"ray": 1, "shutdown": 1, "sweeps": ["session-a", "session-b", "session-c"]}
    assert [r.experiment_name for r in results] == ["session-a", "session-b", "session-c"]
    # the background thread made the store and every experiment before the sweeps ran
    made = {e.name for e in MlflowClient(uri).search_experiments()}
    assert {"session-a", "session-b", "session-c"} <= made


def test_a_failing_sweep_still_shuts_ray_down_once(tmp_path, counted):
    from results.reproduce import run_table_sweeps

    with pytest.raises(RuntimeError, match="a sweep failed"):
        run_table_sweeps(tables(tmp_path, "session-boom", "session-after"), "smoke", f"sqlite:///{tmp_path / 'm.db'}")
    assert counted == {"ray": 1, "shutdown": 1, "sweeps": ["session-boom"]}


def test_an_unusable_store_is_refused_before_ray_starts(tmp_path, counted):
    from results.reproduce import run_table_sweeps

    with pytest.raises(StoreError, match="does not exist"):
        run_table_sweeps(tables(tmp_path, "session-a"), "smoke", f"sqlite:///{tmp_path / 'absent' / 'm.db'}")
    assert counted == {"ray": 0, "shutdown": 0, "sweeps": []}


def test_an_invalid_sweep_is_refused_before_anything_runs(tmp_path, counted):
    from orchestrator.spec import SweepError
    from results.reproduce import run_table_sweeps

    specs = tables(tmp_path, "session-a", "session-b")
    (tmp_path / "session-b.yaml").write_text("name: session-b\nworkload: toy_quadratic\nparams: {xx: 1}\n")
    with pytest.raises(SweepError, match="'xx'"):
        run_table_sweeps(specs, "smoke", f"sqlite:///{tmp_path / 'm.db'}")
    assert counted == {"ray": 0, "shutdown": 0, "sweeps": []}


def test_a_ray_already_up_is_left_running(monkeypatch, tmp_path):
    import orchestrator.launch as launch
    import orchestrator.warm_start as warm_start

    ended = []
    monkeypatch.setattr(warm_start, "ray_is_up", lambda: True)
    monkeypatch.setattr(warm_start, "shutdown", lambda: ended.append(1))
    monkeypatch.setattr(launch, "ensure_ray", lambda address=None, num_cpus=None: None)
    with warm_start.launch_session(f"sqlite:///{tmp_path / 'm.db'}", ["session-up"]):
        pass
    assert ended == []
