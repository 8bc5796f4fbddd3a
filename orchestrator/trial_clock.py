"""A trial's own clock, for benchmarks: its wall and CPU time and how long it sat blocked handing results to Tune.

Under Ray Tune a function trainable's ``tune.report`` blocks until the driver has taken the result and asked for the
next one, so a busy driver stalls every running trial. What the driver sees (the MLflow run's start to end) then
mixes the trial's work, that waiting and the actor's start. ``benchmarks/sweep_local.py`` sets
``$ORCHESTRATOR_TRIAL_TIMES`` to a file and every trial appends one JSON line to it:

    {"pid", "start", "end", "wall_s", "thread_cpu_s", "process_cpu_s", "reports", "report_wait_s", "first_report_s",
     "modules_at_start", "modules_imported", "torch_at_start", "process_started", "trainable_loaded", "cpu_affinity"}

``first_report_s`` (start to the first hand-over) is the trial's set-up: imports, model, data; ``modules_imported``
counts the modules the trial imported itself, i.e. what its worker had not loaded before (an actor's first trial);
``process_started`` is when its worker process was created and ``trainable_loaded`` when that worker loaded the
trainable (Ray creating the actor): from there to ``start`` the actor waits for Tune to hand it the trial.

Off (nothing measured, nothing patched) when the variable is unset, which is every normal launch.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Iterator

TIMES_ENV = "ORCHESTRATOR_TRIAL_TIMES"
LOADED_AT = time.time()  # in a worker: when Ray unpickled the trainable, i.e. created the trial's actor


@contextlib.contextmanager
def trial_clock() -> Iterator[None]:
    """Time the enclosed trial when ``$ORCHESTRATOR_TRIAL_TIMES`` names a file (else a no-op)."""
    path = os.environ.get(TIMES_ENV)
    if not path:
        yield
        return
    from ray import tune

    waits: list[float] = []
    first: list[float] = []
    report = tune.report

    def timed_report(*args, **kwargs):
        t = time.perf_counter()
        if not first:
            first.append(time.time() - start)
        try:
            return report(*args, **kwargs)
        finally:
            waits.append(time.perf_counter() - t)

    # The trial's context calls ``tune.report`` through the module, so this counts every hand-over.
    tune.report = timed_report
    modules, torch_loaded = len(sys.modules), "torch" in sys.modules
    start, thread_cpu, process_cpu = time.time(), time.thread_time(), time.process_time()
    try:
        yield
    finally:
        tune.report = report
        record = {"pid": os.getpid(), "start": start, "end": time.time(), "wall_s": time.time() - start,
                  "thread_cpu_s": time.thread_time() - thread_cpu, "process_cpu_s": time.process_time() - process_cpu,
                  "reports": len(waits), "report_wait_s": sum(waits), "first_report_s": first[0] if first else None,
                  "modules_at_start": modules, "modules_imported": len(sys.modules) - modules,
                  "torch_at_start": torch_loaded, "process_started": _process_started(),
                  "trainable_loaded": LOADED_AT,
                  "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []}
        with open(path, "a") as f:  # one short line per write: O_APPEND keeps concurrent trials' lines whole
            f.write(json.dumps(record) + "\n")


def _process_started() -> float | None:
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # psutil missing or /proc unreadable: the other figures still count
        return None
