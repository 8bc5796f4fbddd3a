"""SIGKILL the driver mid-sweep, then `--resume`: every trial completes exactly once in MLflow."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

TESTS = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    env["ORCHESTRATOR_PLUGINS"] = "support.toy_workloads"
    env.pop("RAY_ADDRESS", None)
    return env


def _finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute(
                "select count(*) from runs r join tags t on t.run_uuid = r.run_uuid "
                "where t.key = 'orchestrator.role' and t.value = 'trial' and r.status = 'FINISHED'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_then_resume_completes_each_trial_once(write_sweep, tmp_path):
    path = write_sweep("""
        name: resume-me
        workload: toy_quadratic
        params: {steps: 4, sleep: 1.0}
        grid: {x: [0.0, 1.0, 2.0, 3.0]}
        max_concurrent: 1
    """)
    db = tmp_path / "mlruns.db"
    args = [sys.executable, "-m", "orchestrator", "run", str(path), "--scale", "smoke", "--tracking-uri",
            f"sqlite:///{db}", "--storage-path", str(tmp_path / "ray"), "--tune-verbose", "0"]
    driver = subprocess.Popen(args, env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.time() + 180
    while _finished(db) < 1 and time.time() < deadline and driver.poll() is None:
        time.sleep(0.5)
    assert driver.poll() is None, "the sweep ended before it could be interrupted"
    assert _finished(db) >= 1
    time.sleep(1.5)  # let the next trial get going so it is interrupted mid-way
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    # The killed driver's private Ray cluster shuts itself down; give it a moment.
    time.sleep(3)
    before = _finished(db)
    assert before < 4

    resumed = subprocess.run(args + ["--resume"], env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    df = mlflow.search_runs(experiment_names=["resume-me"], filter_string="tags.`orchestrator.role` = 'trial'")
    assert len(df) == 4, df[["params.x", "status", "tags.trial_id"]]
    assert set(df["status"]) == {"FINISHED"}
    assert sorted(df["params.x"].astype(float)) == [0.0, 1.0, 2.0, 3.0]
    assert df["tags.config_hash"].nunique() == 4
    assert (df["metrics.objective"].values == pytest.approx(((df["params.x"].astype(float) - 2) ** 2 + 1).values))
    parents = mlflow.search_runs(experiment_names=["resume-me"], filter_string="tags.`orchestrator.role` = 'parent'")
    assert len(parents) == 1 and parents["status"].iloc[0] == "FINISHED"
    # --resume with nothing to resume is a clear error
    other = write_sweep("name: never-ran\nworkload: toy_quadratic\n", "other.yaml")
    res = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(other), "--scale", "smoke", "--resume",
                          "--tracking-uri", f"sqlite:///{db}", "--storage-path", str(tmp_path / "ray")],
                         env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "nothing to resume" in res.stderr and "Traceback" not in res.stderr
