"""What ``--resume`` reads back from an interrupted launch's MLflow record (no Ray: runs written directly)."""
from __future__ import annotations

import json
import platform

import pytest

from orchestrator.launch_state import (DRIVER_TAG, INTERRUPTED_TAG, SAMPLE_TAG, ResumeError, driver_alive,
                                       driver_identity, find_resumable, read_plan, resume_command, settle_dead_launch)
from orchestrator.spec import load_sweep
from orchestrator.store_preflight import open_recorder
from orchestrator.tracking import SUMMARY_TAG

DEAD = json.dumps({"host": platform.node(), "pid": 2 ** 22 + 3, "started": 1.0})


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """MLflow's schema creation takes seconds: made once, copied per test."""
    db = tmp_path_factory.mktemp("store") / "mlruns.db"
    open_recorder(f"sqlite:///{db}", "template")
    return db.read_bytes()


def _store(tmp_path, empty_store, name):
    db = tmp_path / "mlruns.db"
    db.write_bytes(empty_store)
    return open_recorder(f"sqlite:///{db}", name)


@pytest.fixture
def launch(tmp_path, write_sweep, empty_store):
    """A killed launch: one run per state a dead driver can leave behind."""
    sweep = load_sweep(write_sweep("name: st\nworkload: toy_quadratic\ngrid: {x: [0.0, 1.0, 2.0, 3.0, 4.0]}\n"), "smoke")
    rec = _store(tmp_path, empty_store, "st")
    parent = rec.start_parent(sweep, "st-smoke-1", 5)
    rec.client.set_tag(parent, DRIVER_TAG, DEAD)
    trials = sweep.trials()
    runs = {}
    for i, (state, t) in enumerate(zip(["done", "summary_only", "running", "failed", "killed"], trials)):
        rid = rec.start_trial(parent, f"t{i}", sweep, t.params, t.seed, t.config_hash, run_name=state)
        if state == "done":
            rec.log_summary(rid, {"objective": 5.0})
            rec.end_trial(rid, "FINISHED")
        elif state == "summary_only":  # killed between the summary and the run's end
            rec.log_summary(rid, {"objective": 2.0})
        elif state == "failed":
            rec.end_trial(rid, "FAILED", "Traceback: boom")
        elif state == "killed":
            rec.end_trial(rid, "KILLED")
        runs[state] = (rid, t.config_hash)
    return sweep, rec, parent, runs


def test_read_plan_sorts_and_settles_runs(launch):
    sweep, rec, parent, runs = launch
    plan = read_plan(rec.client, rec.experiment_id, parent)
    assert plan.done_hashes == {runs["done"][1], runs["summary_only"][1]}
    assert plan.failed_hashes == {runs["failed"][1]}
    assert plan.reusable == {runs["running"][1]: runs["running"][0], runs["killed"][1]: runs["killed"][0]}
    assert (plan.n_finished, plan.n_failed) == (2, 1)
    assert rec.run_status(runs["summary_only"][0]) == "FINISHED"   # its summary reached MLflow: not re-run
    assert rec.run_status(runs["running"][0]) == "KILLED"          # nothing stays RUNNING
    assert rec.client.get_run(runs["running"][0]).data.tags[INTERRUPTED_TAG] == "the driver process died"


def test_find_resumable(launch, write_sweep):
    sweep, rec, parent, _ = launch
    assert find_resumable(rec.client, rec.experiment_id, "st", "smoke").info.run_id == parent
    with pytest.raises(ResumeError, match="never launched"):
        find_resumable(rec.client, rec.experiment_id, "st", "mini")
    rec.client.set_tag(parent, DRIVER_TAG, driver_identity())  # this process: a live driver
    with pytest.raises(ResumeError, match="still running in process"):
        find_resumable(rec.client, rec.experiment_id, "st", "smoke")
    rec.client.set_terminated(parent, "FINISHED")
    with pytest.raises(ResumeError, match="ended FINISHED"):
        find_resumable(rec.client, rec.experiment_id, "st", "smoke")


def test_a_new_launch_closes_a_dead_one(launch):
    sweep, rec, parent, runs = launch
    assert settle_dead_launch(rec.client, rec.experiment_id, "smoke") == parent
    assert rec.run_status(parent) == "KILLED"
    assert rec.run_status(runs["running"][0]) == "KILLED"
    assert settle_dead_launch(rec.client, rec.experiment_id, "smoke") is None  # nothing RUNNING any more


def test_an_untagged_or_live_launch_is_never_closed(launch):
    sweep, rec, parent, runs = launch
    rec.client.set_tag(parent, DRIVER_TAG, driver_identity())
    assert settle_dead_launch(rec.client, rec.experiment_id, "smoke") is None
    rec.client.set_tag(parent, DRIVER_TAG, "")
    assert settle_dead_launch(rec.client, rec.experiment_id, "smoke") is None
    assert rec.run_status(parent) == "RUNNING" and rec.run_status(runs["running"][0]) == "RUNNING"


def test_search_samples_warm_start_and_are_redrawn(tmp_path, write_sweep, empty_store):
    sweep = load_sweep(write_sweep("name: so\nworkload: toy_quadratic\nsearch: {metric: objective, mode: min, "
                                   "num_samples: 3, space: {x: {uniform: [0, 4]}}}\n"), "smoke")
    rec = _store(tmp_path, empty_store, "so")
    parent = rec.start_parent(sweep, "so-smoke-1", 3)
    for i, (x, done) in enumerate([(0.5, True), (3.0, False)]):
        t = sweep.trials()[0]
        rid = rec.start_trial(parent, f"t{i}", sweep, {**t.params, "x": x}, 0, f"h{i}", run_name=f"x={x}")
        rec.client.set_tag(rid, SAMPLE_TAG, json.dumps({"x": x}))
        if done:
            rec.log_summary(rid, {"objective": (x - 2) ** 2 + 1})
            rec.end_trial(rid, "FINISHED")
    plan = read_plan(rec.client, rec.experiment_id, parent, "objective")
    assert plan.warm_points == [{"x": 0.5}] and plan.warm_rewards == [pytest.approx(3.25)]
    assert plan.reusable == {}  # an unfinished sample is not re-used: the search draws a new one
    assert plan.n_finished == 1


def test_driver_alive():
    assert driver_alive(driver_identity())
    assert not driver_alive(DEAD)
    assert not driver_alive(None) and not driver_alive("not json")
    assert driver_alive(json.dumps({"host": "another-machine", "pid": 1, "started": 0}))  # cannot tell: live


def test_resume_command_round_trips(write_sweep):
    sweep = load_sweep(write_sweep("name: rc\nworkload: toy_quadratic\n"), "smoke", {"lr": 0.5})
    cmd = resume_command(sweep, "sqlite:////tmp/a b.db", "/tmp/ray")
    assert cmd.endswith("--scale smoke --set lr=0.5 --tracking-uri 'sqlite:////tmp/a b.db' --storage-path /tmp/ray "
                        "--resume")
