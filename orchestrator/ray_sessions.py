"""The private local Ray clusters our drivers start, recorded so that none outlives its driver.

A driver killed with SIGKILL cannot shut its Ray down; Ray's DashboardAgent and RuntimeEnvAgent then stay
alive (two per kill). Each driver writes the ids of the processes its ``ray.init`` started; the next launch
(or ``orchestrator clean``) ends exactly those, by pid and start time, once their driver is gone. Processes
of other users' or other drivers' clusters are never touched.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import psutil

from orchestrator.launch_state import driver_alive, driver_identity

# Ray finds its address from this variable at import; with it set to 0 a private cluster lives on the
# loopback interface only (every gRPC server then binds 127.0.0.1, checked by tests/orchestrator).
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def state_dir(root: str | Path | None = None) -> Path:
    """``root`` > ``$ORCHESTRATOR_STATE`` > ~/.cache/orchestrator, with ``ray-sessions/`` below it."""
    root = root or os.environ.get("ORCHESTRATOR_STATE") or Path.home() / ".cache" / "orchestrator"
    path = Path(root) / "ray-sessions"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_session(session_dir: str) -> Path:
    """Remember the processes of the private Ray this driver just started."""
    me = psutil.Process()
    procs = []
    for child in me.children(recursive=True):
        try:
            if not _is_ray_process(child, session_dir):
                continue  # e.g. a subprocess of a test that happens to run this driver
            procs.append({"pid": child.pid, "started": round(child.create_time(), 2), "name": child.name()})
        except psutil.Error:
            continue
    entry = {"driver": driver_identity(), "session_dir": session_dir, "processes": procs}
    path = state_dir() / f"{me.pid}-{int(me.create_time())}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry))
    os.replace(tmp, path)
    return path


def _is_ray_process(proc: psutil.Process, session_dir: str) -> bool:
    """GCS, raylet, agents, workers (``ray::...`` titles) and Ray's Python helpers (their command names the
    session folder or lives in the ray package)."""
    name = proc.name()
    if name.startswith(("ray::", "raylet", "gcs_server")):
        return True
    cmdline = " ".join(proc.cmdline())
    return bool(session_dir and session_dir in cmdline) or "site-packages/ray/" in cmdline


def _same_process(pid: int, started: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        return proc if abs(proc.create_time() - started) < 1.0 else None
    except psutil.Error:
        return None


def reap_orphans(remove_session_dirs: bool = False, grace_s: float = 3.0, state: str | Path | None = None) -> list[int]:
    """End the recorded Ray processes whose driver is dead; returns their pids. Live drivers are left alone."""
    ended: list[int] = []
    for record in sorted(state_dir(state).glob("*.json")):
        try:
            entry = json.loads(record.read_text())
        except (OSError, ValueError):
            record.unlink(missing_ok=True)
            continue
        if driver_alive(entry.get("driver")):
            continue
        alive = [p for p in (_same_process(int(x["pid"]), float(x["started"])) for x in entry.get("processes", [])) if p]
        for proc in alive:
            try:
                proc.send_signal(signal.SIGTERM)
            except psutil.Error:
                pass
        _, still = psutil.wait_procs(alive, timeout=grace_s)
        for proc in still:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(still, timeout=grace_s)
        ended += [p.pid for p in alive]
        if remove_session_dirs and entry.get("session_dir"):
            shutil.rmtree(entry["session_dir"], ignore_errors=True)
        record.unlink(missing_ok=True)
    return ended


def orphaned_processes(state: str | Path | None = None) -> list[int]:
    """Recorded Ray processes still alive although their driver is dead (what ``reap_orphans`` would end)."""
    out = []
    for record in state_dir(state).glob("*.json"):
        try:
            entry = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if driver_alive(entry.get("driver")):
            continue
        out += [int(x["pid"]) for x in entry.get("processes", []) if _same_process(int(x["pid"]), float(x["started"]))]
    return out


# Ray's autoscaler monitor (one per private cluster, a child of the driver) answers SIGTERM by reporting its own
# "death" to the GCS, which `ray.shutdown()` has already stopped; Ray then waits its full 1 s grace before the
# SIGKILL it ends up sending anyway (measured: 1.0 of the 1.4 s of a shutdown, Ray 2.60). A private local
# cluster has nothing to autoscale, so that SIGKILL is sent first.
MONITOR_SCRIPT = "autoscaler/_private/monitor.py"


def stop_autoscaler_monitor(timeout_s: float = 1.0) -> list[int]:
    """SIGKILL the autoscaler monitor(s) of the private Ray this driver started; returns their pids. Only
    this process's direct children are looked at (Ray's drivers spawn the monitor themselves): the monitor of
    a cluster, or of another driver's Ray, is never touched."""
    ended = []
    for child in psutil.Process().children(recursive=False):
        try:
            if any(arg.endswith(MONITOR_SCRIPT) for arg in child.cmdline()):
                child.kill()
                ended.append(child)
        except psutil.Error:
            continue
    psutil.wait_procs(ended, timeout=timeout_s)
    return [p.pid for p in ended]
