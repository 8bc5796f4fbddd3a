"""Drive `orchestrator run` in a subprocess, inject a fault (SIGKILL / SIGINT / SIGTERM at a chosen moment),
resume, and read back what the MLflow store holds. Shared by tests/orchestrator/test_faults_*.py and
benchmarks/reliability.py (which prints the figures of docs/RELIABILITY.md).

The store is read with sqlite3 directly (no MLflow import, no schema migration, safe while a driver writes).
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import support.toy_workloads  # noqa: F401  (the sweeps below use toy_quadratic)

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

# Three small sweeps over the toy quadratic (tests/support/toy_workloads.py): seconds per trial.
SWEEPS = {
    "grid": """
        name: faults-grid
        workload: toy_quadratic
        params: {steps: 3, sleep: 0.4}
        grid: {x: [0.0, 1.0, 2.0, 3.0]}
        max_concurrent: 1
    """,
    "search": """
        name: faults-search
        workload: toy_quadratic
        params: {steps: 3, sleep: 0.4}
        search: {metric: objective, mode: min, num_samples: 4, max_concurrent: 1,
                 space: {x: {uniform: [-1.0, 4.0]}}}
    """,
    "asha": """
        name: faults-asha
        workload: toy_quadratic
        params: {steps: 4, sleep: 0.3}
        grid: {x: [0.0, 1.0, 2.0, 3.0]}
        scheduler: {asha: {metric: loss, mode: min, grace_period: 1, max_t: 4}}
        max_concurrent: 1
    """,
}
MOMENTS = ("before_trials", "mid_sweep", "before_parent_end")


def env(state_dir: Path, pause: str | None = None) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), str(REPO), out.get("PYTHONPATH")]))
    out["ORCHESTRATOR_PLUGINS"] = "support.toy_workloads"
    out["ORCHESTRATOR_STATE"] = str(state_dir)
    out.pop("RAY_ADDRESS", None)
    out.pop("ORCHESTRATOR_PAUSE_AT", None)
    if pause:
        out["ORCHESTRATOR_PAUSE_AT"] = pause
    return out


@dataclass
class Run:
    run_id: str
    status: str
    end_time: int | None
    tags: dict[str, str] = field(default_factory=dict)


class Store:
    """Read-only view of a SQLite MLflow store."""

    def __init__(self, db: Path):
        self.db = db

    def runs(self, role: str) -> list[Run]:
        if not self.db.exists():
            return []
        for attempt in range(20):
            # Read-only first. A driver SIGKILLed inside a write leaves a hot journal, which a read-only connection
            # cannot roll back (every read then fails until a writer opens the file); a plain connection rolls it
            # back, as the resume's first write would.
            uri = f"file:{self.db}?mode=ro" if attempt == 0 else f"file:{self.db}"
            try:
                with sqlite3.connect(uri, uri=True, timeout=10) as con:
                    rows = con.execute(
                        "select r.run_uuid, r.status, r.end_time from runs r join tags t on t.run_uuid = r.run_uuid "
                        "where t.key = 'orchestrator.role' and t.value = ? and r.lifecycle_stage = 'active'",
                        (role,)).fetchall()
                    out = []
                    for rid, status, end in rows:
                        tags = dict(con.execute("select key, value from tags where run_uuid = ?", (rid,)).fetchall())
                        out.append(Run(rid, status, end, tags))
                    return out
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):  # no schema yet
                    return []
                time.sleep(0.25)  # locked for a moment, or the journal just rolled back
        return []

    def trials(self) -> list[Run]:
        return self.runs("trial")

    def parents(self) -> list[Run]:
        return self.runs("parent")

    def finished(self) -> list[Run]:
        return [r for r in self.trials() if r.status == "FINISHED"]


@dataclass
class Case:
    kind: str
    moment: str
    root: Path

    @property
    def sweep_path(self) -> Path:
        return self.root / f"{self.kind}.yaml"

    @property
    def db(self) -> Path:
        return self.root / "mlruns.db"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def args(self, resume: bool = False) -> list[str]:
        out = [sys.executable, "-m", "orchestrator", "run", str(self.sweep_path), "--scale", "smoke",
               "--tracking-uri", f"sqlite:///{self.db}", "--storage-path", str(self.root / "ray"),
               "--tune-verbose", "0"]
        return out + (["--resume"] if resume else [])


def make_case(kind: str, moment: str, root: Path) -> Case:
    root.mkdir(parents=True, exist_ok=True)
    case = Case(kind, moment, root)
    case.sweep_path.write_text(textwrap.dedent(SWEEPS[kind]))
    return case


def expected_points(case: Case) -> int:
    """Grid points × seeds for a grid sweep, ``num_samples`` for a search (4 in each of ``SWEEPS``)."""
    from orchestrator.spec import load_sweep

    sweep = load_sweep(case.sweep_path, "smoke")
    return sweep.search.num_samples if sweep.search else len(sweep.trials())


def expected_hashes(case: Case) -> set[str]:
    from orchestrator.spec import load_sweep

    sweep = load_sweep(case.sweep_path, "smoke")
    return set() if sweep.search else {t.config_hash for t in sweep.trials()}


def _wait(predicate, timeout: float, proc: subprocess.Popen | None = None, step: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(step)
    return False


def start(case: Case, pause: str | None = None) -> subprocess.Popen:
    log = open(case.root / "driver.log", "ab")
    return subprocess.Popen(case.args(), env=env(case.state, pause), cwd=case.root, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill_at(case: Case, sig: int = signal.SIGKILL, timeout: float = 180) -> dict[str, object]:
    """Start the sweep, send ``sig`` to its driver at ``case.moment``; what the store held at that moment."""
    store = Store(case.db)
    n = expected_points(case)
    pause = {"before_trials": "before_trials=120", "before_parent_end": "before_parent_end=120"}.get(case.moment)
    proc = start(case, pause)
    if case.moment == "before_trials":
        ok = _wait(lambda: len(store.parents()) >= 1, timeout, proc)
        time.sleep(0.5)
    elif case.moment == "mid_sweep":
        ok = _wait(lambda: len(store.finished()) >= 1, timeout, proc)
        time.sleep(0.6)  # the next trial is under way
    else:
        ok = _wait(lambda: len(store.finished()) >= n and all(t.status != "RUNNING" for t in store.trials()),
                   timeout, proc)
        time.sleep(0.5)
    alive = proc.poll() is None
    os.kill(proc.pid, sig)  # the driver only: its Ray processes must not outlive it (ray_sessions)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
    finished = {t.run_id: t.end_time for t in store.finished()}
    from orchestrator.ray_sessions import orphaned_processes

    time.sleep(2.0)  # what Ray would clean up by itself, it has done by now
    return {"reached": ok and alive, "rc": rc, "finished_before": finished,
            "orphans_after_kill": len(orphaned_processes(case.state))}


def resume(case: Case, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(case.args(resume=True), env=env(case.state), cwd=case.root, capture_output=True,
                          text=True, timeout=timeout)


def verify(case: Case, finished_before: dict[str, int | None]) -> dict[str, int]:
    """The figures the deliverables name, after the resume ended."""
    from orchestrator.ray_sessions import orphaned_processes

    store = Store(case.db)
    trials, parents = store.trials(), store.parents()
    finished = [t for t in trials if t.status == "FINISHED"]
    per_point: dict[str, int] = {}
    for t in finished:
        per_point[t.tags.get("config_hash", "")] = per_point.get(t.tags.get("config_hash", ""), 0) + 1
    n = expected_points(case)
    parent_ids = {p.run_id for p in parents}
    points = expected_hashes(case)
    outside = [t for t in trials if t.tags.get("mlflow.parentRunId") not in parent_ids
               or (points and t.tags.get("config_hash") not in points)]
    rerun = [rid for rid, end in finished_before.items()
             if not any(t.run_id == rid and t.status == "FINISHED" and t.end_time == end for t in trials)]
    _wait(lambda: not orphaned_processes(case.state), 20)
    orphans = orphaned_processes(case.state)
    return {
        "points": n,
        "finished_points": len(per_point) if case.kind != "search" else len(finished),
        "duplicates": sum(c - 1 for c in per_point.values()) if case.kind != "search" else 0,
        "lost": max(0, n - (len(per_point) if case.kind != "search" else len(finished))),
        "outside": len(outside) + max(0, len(parents) - 1),
        "rerun": len(rerun),
        "running": sum(r.status == "RUNNING" for r in trials + parents),
        "parent_finished": int(len(parents) == 1 and parents[0].status == "FINISHED"),
        "orphans": len(orphans),
        "study_duplicates": _study_duplicates(case) if case.kind == "search" else 0,
    }


def _study_duplicates(case: Case) -> int:
    """COMPLETE trials of the search's persistent Optuna study that repeat another one's parameters (a resume
    that warm-started the study with samples it already held)."""
    import optuna
    from optuna.trial import TrialState

    from orchestrator.optuna_study import storage_url, study_name
    from orchestrator.spec import load_sweep

    study = optuna.load_study(study_name=study_name(load_sweep(case.sweep_path, "smoke")),
                              storage=storage_url(f"sqlite:///{case.db}"))
    params = [json.dumps(t.params, sort_keys=True) for t in study.get_trials(states=(TrialState.COMPLETE,))]
    return len(params) - len(set(params))


def run_case(kind: str, moment: str, root: Path, sig: int = signal.SIGKILL) -> dict[str, object]:
    """Kill, resume, verify; the figures plus the resume's exit code and output tail."""
    case = make_case(kind, moment, root)
    t0 = time.time()
    killed = kill_at(case, sig)
    res = resume(case)
    figures = verify(case, killed["finished_before"])
    return {"kind": kind, "moment": moment, "reached": killed["reached"], "kill_rc": killed["rc"],
            "resume_rc": res.returncode, "seconds": round(time.time() - t0, 1),
            "orphans_after_kill": killed["orphans_after_kill"],
            "finished_before": len(killed["finished_before"]), **figures,
            "tail": (res.stdout[-1500:] + res.stderr[-1500:])}


def interrupt_case(kind: str, sig: int, root: Path, timeout: float = 180) -> dict[str, object]:
    """Ctrl-C (SIGINT) or SIGTERM to the driver mid-sweep: its exit code, what it printed, the store's state;
    then ``--resume`` and the figures of ``verify``."""
    case = make_case(kind, "mid_sweep", root)
    store = Store(case.db)
    t0 = time.time()
    proc = subprocess.Popen(case.args(), env=env(case.state), cwd=case.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    reached = _wait(lambda: len(store.finished()) >= 1, timeout, proc)
    time.sleep(0.6)
    alive = proc.poll() is None
    os.kill(proc.pid, sig)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    trials, parents = store.trials(), store.parents()
    finished_before = {t.run_id: t.end_time for t in trials if t.status == "FINISHED"}
    after = {"reached": reached and alive, "rc": proc.returncode, "stderr": err[-3000:],
             "statuses": sorted(t.status for t in trials), "parent": [p.status for p in parents],
             "finished_without_summary": sum(t.status == "FINISHED" and t.tags.get("orchestrator.summary") != "logged"
                                             and t.tags.get("stopped_early") != "true" for t in trials)}
    from orchestrator.ray_sessions import orphaned_processes

    after["orphans_after_kill"] = len(orphaned_processes(case.state))
    after["finished_before"] = len(finished_before)
    res = resume(case)
    return {**after, "resume_rc": res.returncode, "resume_tail": res.stdout[-1500:] + res.stderr[-1500:],
            **verify(case, finished_before), "seconds": round(time.time() - t0, 1)}
