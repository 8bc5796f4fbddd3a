"""`--resume` continues an interrupted trial from its last `ctx.checkpoint`, not from its first step: the driver
records each checkpoint's storage URI on the trial's MLflow run, and the resumed trial loads it (weights_only)."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from orchestrator.launch_state import CHECKPOINT_TAG, checkpoint_uri
from support import fault_harness as fh

# One grid point of the toy quadratic: it checkpoints {"step": s + 1} after reporting step s.
SWEEP = """
    name: faults-checkpoint
    workload: toy_quadratic
    params: {x: 1.0, steps: 8, sleep: 0.6}
    grid: {offset: [1.0]}
"""


def test_checkpoint_uri_keeps_the_storage_scheme():
    assert checkpoint_uri("s3://bucket/runs", "bucket/runs", "bucket/runs/exp/trial/checkpoint_000002") == \
        "s3://bucket/runs/exp/trial/checkpoint_000002"
    assert checkpoint_uri("/data/ray/", "/data/ray", "/data/ray/exp/t/checkpoint_000000") == \
        "/data/ray/exp/t/checkpoint_000000"
    assert checkpoint_uri("/data/ray", "/data/ray", "/elsewhere/checkpoint_000000") == "/elsewhere/checkpoint_000000"


def _stream(db: Path, key: str) -> list[tuple[int, float, int]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
        return con.execute("select step, value, timestamp from metrics where key = ? order by timestamp, step",
                           (key,)).fetchall()


def _summary(db: Path) -> dict[str, float]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
        return dict(con.execute("select key, value from latest_metrics where key in ('objective', 'final_x')"))


def _case(root: Path) -> fh.Case:
    root.mkdir(parents=True, exist_ok=True)
    case = fh.Case("checkpoint", "mid_trial", root)
    case.sweep_path.write_text(textwrap.dedent(SWEEP))
    return case


def _checkpointed_step(store: fh.Store) -> int:
    """The step the trial's recorded checkpoint resumes at (Tune numbers checkpoints from 0, one per report)."""
    tags = [t.tags.get(CHECKPOINT_TAG, "") for t in store.trials()]
    return max((int(t.rsplit("_", 1)[-1]) + 1 for t in tags if t), default=0)


@pytest.mark.slow
def test_sigkilled_trial_resumes_after_its_checkpoint(tmp_path):
    case = _case(tmp_path / "killed")
    store = fh.Store(case.db)
    proc = fh.start(case)
    assert fh._wait(lambda: _checkpointed_step(store) >= 3, 180, proc), (case.root / "driver.log").read_text()[-3000:]
    killed_at_ms = int(time.time() * 1000)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only, mid-trial, after at least three checkpoints
    proc.wait(timeout=60)
    ckpt_step = _checkpointed_step(store)
    assert ckpt_step < 8, "the trial finished before the kill; the test proves nothing"

    res = fh.resume(case)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    [trial] = store.trials()
    assert trial.status == "FINISHED" and trial.tags.get("orchestrator.resumed") == "true"
    after = [step for step, _, ts in _stream(case.db, "stream/step_value") if ts > killed_at_ms]
    assert after, "the resumed trial reported nothing"
    # Continued from the checkpoint (step ckpt_step), not from step 0; the kill may land after a later report
    # whose checkpoint was not recorded yet, so the first resumed step is the last recorded checkpoint's.
    assert min(after) >= ckpt_step >= 3 and max(after) == 7
    assert sorted(after) == list(range(min(after), 8))

    clean = _case(tmp_path / "clean")
    done = subprocess.run(clean.args(), env=fh.env(clean.state), cwd=clean.root, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # The trial's own files stay out of the experiment folder the driver keeps copying to the Tune storage (a
    # checkpoint.tmp renamed mid-copy failed a finished launch there); only Tune's checkpoints travel.
    assert not [p for p in (clean.root / "ray").rglob("*") if p.name == "work"]
    assert list((clean.root / "ray").rglob("checkpoint_*/checkpoint.pt"))
    assert _summary(case.db) == _summary(clean.db) == {"objective": 2.0, "final_x": 1.0}
    # The streamed values of the steps both runs reported are the same numbers.
    ref = {step: v for step, v, _ in _stream(clean.db, "stream/loss")}
    got = {step: v for step, v, ts in _stream(case.db, "stream/loss") if ts > killed_at_ms}
    assert got and all(ref[s] == v for s, v in got.items()) and sorted(ref) == list(range(8))
