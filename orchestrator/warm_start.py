"""What every launch needs before its first trial, started once per command and side by side (issue 18.3).

Opening the MLflow store (importing mlflow's SQLAlchemy store, creating a new SQLite store's schema, the
sweeps' experiments) and starting the private Ray were paid one after the other inside the first launch.
``prepare`` creates the store's part in a background thread while this thread starts Ray (``ray.init``
mostly waits on the processes it spawns, so the two overlap even on 2 cores); ``run_sweep`` then finds
both ready. ``launch_session`` wraps a whole command (one ``run``, every sweep of a ``reproduce``): Ray
starts once before its first sweep and shuts down once after its last, optionally in a background thread
while the command prints its summary and renders its tables (``shutdown`` still waits 0.4-0.6 s for Ray's
processes to exit; ``finish_shutdown`` joins it before the command returns).
"""
from __future__ import annotations

import gc
import sys
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator


def _open_store(uri: str, experiment_names: list[str]) -> None:
    from orchestrator.store_preflight import open_recorder

    try:
        for name in experiment_names:
            open_recorder(uri, name)  # the schema (new store) and the experiment, under the store's lock
    except Exception:  # noqa: BLE001 (run_sweep opens the store again and reports it as one paragraph)
        pass


def ray_is_up() -> bool:
    ray = sys.modules.get("ray")  # never imported: certainly not started
    return ray is not None and ray.is_initialized()


def prepare(uri: str, experiment_names: Iterable[str], address: str | None = None,
            num_cpus: int | None = None) -> None:
    """Start Ray (``orchestrator.launch.ensure_ray``) in this thread while the store at ``uri`` and the
    experiments are created in a background one. A store that cannot work at all fails first (seconds, no
    mlflow import), before Ray starts; a later problem is reported by the launch that opens the store."""
    finish_shutdown()  # a previous session of this process still ending: never two Rays at once
    # Start-up allocates some 300k long-lived objects (module code, classes) and hardly any garbage, yet the
    # cyclic collector keeps rescanning them as the heap grows: a fifth of the imports' CPU time (0.4 of 2.0 s
    # for mlflow + ray + ray.tune on the 2-core dev machine). Paused here, for this thread and the store's.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _start_side_by_side(uri, list(experiment_names), address, num_cpus)
    finally:
        if collecting:
            gc.enable()


def _start_side_by_side(uri: str, experiment_names: list[str], address: str | None, num_cpus: int | None) -> None:
    from orchestrator.launch import ensure_ray
    from orchestrator.store_preflight import preflight

    preflight(uri)
    thread = threading.Thread(target=_open_store, args=(uri, experiment_names), name="mlflow-store", daemon=True)
    thread.start()
    try:
        ensure_ray(address, num_cpus=num_cpus)
        import ray.tune  # noqa: F401  (every launch needs it; imported while the store thread may still run)
    finally:
        thread.join()


@contextmanager
def launch_session(uri: str, experiment_names: Iterable[str], address: str | None = None,
                   num_cpus: int | None = None, background_shutdown: bool = False) -> Iterator[None]:
    """``prepare`` once, run every launch of the command inside, then shut down the Ray this started
    (a Ray that was already up, e.g. a test session's, is left running). ``background_shutdown``: the
    shutdown runs in a thread, and the caller calls ``finish_shutdown`` once it has done its own work."""
    started_here = not ray_is_up()
    prepare(uri, experiment_names, address, num_cpus)
    try:
        yield
    finally:
        if started_here and background_shutdown:
            # Not a daemon: the interpreter waits for it even if the caller never calls finish_shutdown.
            thread = threading.Thread(target=shutdown, name="ray-shutdown")
            thread.start()
            _ending.append(thread)
        elif started_here:
            shutdown()


_ending: list[threading.Thread] = []  # background shutdowns not yet joined


def finish_shutdown() -> None:
    """Wait for a background shutdown started by ``launch_session`` (no-op if none)."""
    while _ending:
        _ending.pop().join()


def shutdown() -> None:
    """End this driver's Ray connection (and its private cluster) if one was started."""
    if ray_is_up():
        from orchestrator.ray_sessions import stop_autoscaler_monitor

        stop_autoscaler_monitor()  # a cluster's driver has no such child: nothing happens there
        sys.modules["ray"].shutdown()
