"""``orchestrator list`` reads table status from a SQLite store without mlflow (``results.store_runs``); the
counts must be those the mlflow path (``results.render.fetch_runs``) gives on the same store."""
from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

import support.toy_workloads  # noqa: F401  (toy_quadratic, for the sweeps status loads)
from results.render import fetch_runs
from results.spec import TableSpec
from results.status import table_status
from results.store_runs import sqlite_runs


def add_run(client, exp, x, scale="mini", seed=0, status="FINISHED", role="trial", summary=True,
            config_hash=None, delete=False):
    """A run as orchestrator.tracking records one."""
    e = client.get_experiment_by_name(exp)
    eid = e.experiment_id if e else client.create_experiment(exp)
    tags = {"orchestrator.role": role, "scale": scale, "seed": str(seed)}
    if summary:
        tags["orchestrator.summary"] = "logged"
    if config_hash:
        tags["config_hash"] = config_hash
    run = client.create_run(eid, tags=tags)
    client.log_param(run.info.run_id, "x", x)
    client.log_metric(run.info.run_id, "objective", 1.0)
    client.set_terminated(run.info.run_id, status)
    if delete:
        client.delete_run(run.info.run_id)


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    add_run(client, "store-a", 0.0, config_hash="h0")
    add_run(client, "store-a", 0.0, config_hash="h0")              # the same trial again: counts once
    add_run(client, "store-a", 2.0, config_hash="h2")
    add_run(client, "store-a", 2.0, scale="smoke", config_hash="s2")
    add_run(client, "store-a", 4.0, status="FAILED", config_hash="f4")
    add_run(client, "store-a", 4.0, summary=False, config_hash="n4")  # ended before its summary
    add_run(client, "store-a", 4.0, role="parent")
    add_run(client, "store-a", 6.0, config_hash="d6", delete=True)
    add_run(client, "store-b", 1.0)                                   # no config hash: every run counts
    return uri, tmp_path


def spec(tmp_path, name, grid, **kw):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nworkload: toy_quadratic\ngrid: {{x: {grid}}}\n")
    return TableSpec(id=f"t-{name}-{len(kw)}", title="T", paper="PALM", sweeps=(str(path),), rows=("x",),
                     metrics=("objective",), **kw)


@pytest.mark.parametrize("filters", [{}, {"x": 2.0}, {"x": 5.0}, {"lr": 0.1}])
def test_direct_read_counts_as_the_mlflow_path(store, filters):
    uri, tmp_path = store
    specs = [spec(tmp_path, "store-a", "[0.0, 2.0, 4.0]", filters=filters),
             spec(tmp_path, "store-b", "[1.0]", filters=filters), spec(tmp_path, "store-c", "[1.0]")]
    cache = sqlite_runs(tmp_path / "m.db", ["store-a", "store-b", "store-c"], [k for s in specs for k in s.filters])
    assert cache is not None and cache["store-c"].empty
    for s in specs:
        for scale in ("smoke", "mini", "paper"):
            direct = fetch_runs(s, scale, uri, cache=cache)
            through_mlflow = fetch_runs(s, scale, uri)
            assert sorted(direct.get("run_id", [])) == sorted(through_mlflow.get("run_id", [])), (s.id, scale)
        assert table_status(s, uri, cache=cache) == table_status(s, uri)
    if not filters:  # x = 0.0 (twice) and 2.0 at mini, 2.0 at smoke; failed, summary-less, parent, deleted: none
        assert table_status(specs[0], uri, cache=cache) == "partially run at smoke (1/3); partially run at mini (2/3)"


def test_a_database_that_is_not_mlflows_is_left_to_mlflow(tmp_path):
    import sqlite3

    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("create table t (a)").connection.commit()
    assert sqlite_runs(db, ["x"]) is None
    assert sqlite_runs(tmp_path / "absent.db", ["x"]) is None
