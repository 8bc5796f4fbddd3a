"""Validation beyond the bad-input catalogue (test_validation_catalogue.py): what must still be accepted, and
checks below the CLI."""
from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from orchestrator.context import LocalContext
from orchestrator.spec import SweepError, apply_resource_overrides, load_sweep

BASE = "name: bad-input\nworkload: toy_quadratic\n"


def test_huge_grid_runs_when_allowed(write_sweep):
    grid = "grid: {x: [" + ", ".join(f"{i}.0" for i in range(120)) + "]}\nseeds: [0, 1]\n"
    assert len(load_sweep(write_sweep(BASE + grid + "max_trials: 240\n"), "smoke").trials()) == 240
    with pytest.raises(SweepError, match="expands to 240 trials"):
        load_sweep(write_sweep(BASE + grid + "max_trials: 239\n"), "smoke")


def test_search_space_values_valid_for_their_fields_are_accepted(write_sweep):
    sweep = load_sweep(write_sweep(BASE + "search: {metric: objective, mode: min, num_samples: 2, space: {"
                                          "mode: {choice: [plain, artifact]}, n_layers: {int: [1, 4]}, "
                                          "x: {uniform: [0, 3]}, lr: {loguniform: [0.001, 1]}}}\n"), "smoke")
    assert set(sweep.search.space) == {"mode", "n_layers", "x", "lr"}


def test_declared_metrics_accept_streamed_and_summary_names(write_sweep):
    # neither raises: "loss" is streamed and "objective" summarised by the toy workload
    asha = load_sweep(write_sweep(BASE + "grid: {x: [0.0, 1.0]}\nscheduler: {asha: {metric: loss, mode: min}}\n"), "smoke")
    search = load_sweep(write_sweep(BASE + "search: {metric: objective, mode: min, num_samples: 2, "
                                           "space: {x: {uniform: [0, 1]}}}\n"), "smoke")
    assert asha.scheduler is not None and search.search is not None


def test_good_set_resources_are_applied(write_sweep):
    sweep = load_sweep(write_sweep(BASE), "smoke")
    apply_resource_overrides(sweep, ["cpu=2", "gpu=0.25"])
    assert (sweep.resources.cpu, sweep.resources.gpu) == (2.0, 0.25)
    apply_resource_overrides(sweep, ["gpu=2"])
    assert (sweep.resources.cpu, sweep.resources.gpu) == (2.0, 2.0)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_summary_is_refused(bad, tmp_path):
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        ctx.summary(objective=bad)
    ctx.summary(objective=1.5)
    assert ctx.summaries == {"objective": 1.5}


def test_preflight_leaves_a_good_store_untouched(tmp_path: Path):
    from orchestrator.store_preflight import open_recorder, preflight

    db = tmp_path / "mlruns.db"
    open_recorder(f"sqlite:///{db}", "already-here")
    before = db.read_bytes()
    preflight(f"sqlite:///{db}")
    assert db.read_bytes() == before
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from experiments where name = 'already-here'").fetchone()[0] == 1


def test_store_left_mid_write_by_a_killed_driver_is_not_called_corrupt(tmp_path: Path):
    """SIGKILL inside a write transaction leaves a hot journal; the preflight must recover it, not refuse."""
    import os
    import signal
    import subprocess
    import sys

    from orchestrator.store_preflight import preflight

    db = tmp_path / "mlruns.db"
    with sqlite3.connect(db) as con:
        con.execute("create table runs (id integer primary key, status text)")
        con.execute("insert into runs (status) values ('FINISHED')")
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"con = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "con.execute('pragma cache_size = 1')\n"
        "con.execute('begin immediate')\n"
        "for i in range(20000):\n"
        "    con.execute('insert into runs (status) values (?)', ('RUNNING' * 20,))\n"
        "print('in transaction', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "in transaction"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert (tmp_path / "mlruns.db-journal").exists()  # the hot journal a killed writer leaves
    preflight(f"sqlite:///{db}")
    with sqlite3.connect(db) as con:  # rolled back: the committed row only
        assert con.execute("select status from runs").fetchall() == [("FINISHED",)]
