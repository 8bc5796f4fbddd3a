"""Fault injection: the driver is SIGKILLed at three moments x {grid, Optuna search, ASHA}, or gets Ctrl-C /
SIGTERM, then `orchestrator run --resume`. Nothing lost, nothing run twice, nothing left hanging.

The eleven launches run three at a time (each its own store, Ray and state folder) to keep the matrix at a
few minutes on 2 cores; tests/support/fault_harness.py drives and measures them (as benchmarks/reliability.py).
"""
from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from support.fault_harness import MOMENTS, SWEEPS, interrupt_case, run_case

# A group of its own: the matrix starts its own drivers and Rays (no ray_session), so it need not queue behind the
# "ray" group's tests on one worker; the group keeps its tests on one worker, so the fixture below runs once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fault-matrix")]

KILLS = [(kind, moment) for kind in SWEEPS for moment in MOMENTS]
INTERRUPTS = [("grid", signal.SIGINT), ("asha", signal.SIGTERM)]


# Session scope, so the matrix runs once per worker whatever order the worker runs its tests in. It ran twice
# (2 x ~4-6 min on 2 cores) while --dist loadgroup grouped nothing (tests/support/xdist_groups.py says why).
@pytest.fixture(scope="session")
def outcomes(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("faults")
    with ThreadPoolExecutor(max_workers=3) as pool:
        kills = {key: pool.submit(run_case, *key, root / f"{key[0]}-{key[1]}") for key in KILLS}
        ints = {key: pool.submit(interrupt_case, key[0], key[1], root / f"{key[0]}-{key[1].name}") for key in INTERRUPTS}
        return {**{k: f.result() for k, f in kills.items()}, **{k: f.result() for k, f in ints.items()}}


def _assert_complete(r: dict) -> None:
    assert r["resume_rc"] == 0, r.get("tail") or r.get("resume_tail")
    assert r["finished_points"] == r["points"] and r["lost"] == 0, r
    assert r["duplicates"] == 0, r          # every grid point finished exactly once
    assert r["outside"] == 0, r             # no run outside the sweep (nor a second parent)
    assert r["rerun"] == 0, r               # FINISHED trials untouched by the resume
    assert r["running"] == 0, r             # nothing left RUNNING
    assert r["parent_finished"] == 1, r
    assert r["orphans"] == 0, r             # no Ray process of the killed driver survives
    assert r["study_duplicates"] == 0, r    # a resumed search does not add its finished samples to the study twice


@pytest.mark.parametrize("kind, moment", KILLS)
def test_sigkill_then_resume(outcomes, kind, moment):
    r = outcomes[(kind, moment)]
    assert r["reached"], f"the driver ended before the {moment} moment: {r}"
    assert r["kill_rc"] == -signal.SIGKILL
    if moment == "before_trials":
        assert r["finished_before"] == 0
    elif moment == "mid_sweep":
        assert 1 <= r["finished_before"] < r["points"]
    else:
        assert r["finished_before"] == r["points"]
    _assert_complete(r)


@pytest.mark.parametrize("kind, sig", INTERRUPTS, ids=["grid-SIGINT", "asha-SIGTERM"])
def test_interrupt_kills_unfinished_and_prints_resume(outcomes, kind, sig):
    r = outcomes[(kind, sig)]
    assert r["reached"], r
    assert r["rc"] == 130, r["stderr"]
    assert "Traceback" not in r["stderr"]
    assert "--resume" in r["stderr"] and f"{kind}.yaml" in r["stderr"], r["stderr"]
    assert "RUNNING" not in r["statuses"] and "KILLED" in r["statuses"], r["statuses"]
    assert r["parent"] == ["KILLED"]
    assert r["finished_without_summary"] == 0   # an interrupted trial is never FINISHED
    _assert_complete(r)


def test_resume_refuses_a_live_launch(write_sweep, tmp_path):
    """Resuming a launch whose driver still runs would run its trials twice: a clear error instead."""
    from orchestrator.launch_state import DRIVER_TAG, driver_identity
    from orchestrator.store_preflight import open_recorder
    from orchestrator.cli import main

    path = write_sweep("name: live-one\nworkload: toy_quadratic\n")
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    rec = open_recorder(uri, "live-one")
    from orchestrator.spec import load_sweep

    parent = rec.start_parent(load_sweep(path, "smoke"), "live-one-smoke-now", 1)
    rec.client.set_tag(parent, DRIVER_TAG, driver_identity())  # this very process: alive
    assert main(["run", str(path), "--scale", "smoke", "--resume", "--tracking-uri", uri]) == 2
    assert rec.run_status(parent) == "RUNNING"
