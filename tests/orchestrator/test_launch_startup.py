"""What a launch's fixed cost was cut with (issue 18.3; figures in docs/PERFORMANCE.md, measured by
``benchmarks/launch_cost.py``): no prestarted Ray workers for the private Ray only, the garbage collector paused
while Ray and the store start, Ray's shutdown beside the closing output and without the autoscaler monitor's
1 s grace, the exit's last collection skipped.
Ray is replaced by fakes here; the launch tests run the real one."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_ray(monkeypatch):
    import ray

    import orchestrator.launch as launch

    calls = []

    def init(**kw):
        calls.append(kw)
        return SimpleNamespace(address_info={"session_dir": ""})

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(launch, "record_session", lambda session_dir: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return calls


def test_private_ray_prestarts_no_workers_and_a_cluster_keeps_its_settings(fake_ray):
    from orchestrator.launch import ensure_ray

    ensure_ray(num_cpus=3)
    ensure_ray(address="ray://head:10001")
    private, cluster = fake_ray
    assert private["address"] == "local" and private["num_cpus"] == 3
    assert private["_system_config"] == {"prestart_worker_first_driver": False}
    # ray.init writes its session's spill directory into the dict it gets: a second private Ray in the same
    # process must not inherit the first one's (a copy is passed)
    import orchestrator.launch as launch
    assert private["_system_config"] is not launch.PRIVATE_RAY_CONFIG
    assert cluster == {"address": "ray://head:10001", "log_to_driver": True}  # nothing of ours on a cluster


def test_prepare_pauses_the_collector_for_the_start_and_restores_it(monkeypatch, tmp_path):
    import orchestrator.launch as launch
    import orchestrator.warm_start as warm_start

    seen = []
    monkeypatch.setattr(launch, "ensure_ray", lambda address=None, num_cpus=None: seen.append(("ray", gc.isenabled())))
    monkeypatch.setattr(warm_start, "_open_store", lambda uri, names: seen.append(("store", gc.isenabled())))
    assert gc.isenabled()
    warm_start.prepare(f"sqlite:///{tmp_path / 'm.db'}", ["startup-gc"])
    assert sorted(seen) == [("ray", False), ("store", False)] and gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        warm_start.prepare(f"sqlite:///{tmp_path / 'm.db'}", ["startup-gc"])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_background_shutdown_lets_the_command_finish_first_and_is_joined(monkeypatch, tmp_path):
    import orchestrator.launch as launch
    import orchestrator.warm_start as warm_start

    release, order = threading.Event(), []

    def slow_shutdown():
        release.wait(30)
        order.append("shutdown")

    monkeypatch.setattr(launch, "ensure_ray", lambda address=None, num_cpus=None: None)
    monkeypatch.setattr(warm_start, "_open_store", lambda uri, names: None)
    monkeypatch.setattr(warm_start, "ray_is_up", lambda: False)
    monkeypatch.setattr(warm_start, "shutdown", slow_shutdown)
    with warm_start.launch_session(f"sqlite:///{tmp_path / 'm.db'}", ["startup-bg"], background_shutdown=True):
        order.append("launch")
    order.append("summary")  # runs while Ray is still shutting down
    release.set()
    warm_start.finish_shutdown()
    assert order == ["launch", "summary", "shutdown"]
    warm_start.finish_shutdown()  # nothing left to join


def test_the_command_line_freezes_the_heap_before_the_exit_collection(tmp_path):
    # An atexit handler registered before main() runs after main()'s own (last in, first out).
    script = ("import atexit, gc, sys\n"
              "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
              "from orchestrator.cli import main\n"
              "main(sys.argv[1:]); main(sys.argv[1:])\n")
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_PLUGINS"}
    env.update(PYTHONPATH=str(ROOT), MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'absent.db'}")
    proc = subprocess.run([sys.executable, "-c", script, "show", "palm/quickstart", "--scale", "smoke"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("frozen ") and int(line.split()[1]) > 10_000, proc.stderr


def test_only_this_drivers_own_autoscaler_monitor_is_killed_at_shutdown(tmp_path):
    from orchestrator.ray_sessions import MONITOR_SCRIPT, stop_autoscaler_monitor

    monitor = tmp_path / MONITOR_SCRIPT
    monitor.parent.mkdir(parents=True)
    monitor.write_text("import time\ntime.sleep(60)\n")
    other = tmp_path / "agent.py"
    other.write_text("import time\ntime.sleep(60)\n")
    # a monitor that is not our direct child (another driver's cluster, here a grandchild)
    nested = tmp_path / "nested.py"
    nested.write_text(f"import subprocess, sys\nsubprocess.run([sys.executable, {str(monitor)!r}])\n")
    ours, bystander, parent = (subprocess.Popen([sys.executable, str(p)]) for p in (monitor, other, nested))
    try:
        import psutil

        deadline = time.time() + 20
        while not psutil.Process(parent.pid).children() and time.time() < deadline:
            time.sleep(0.05)
        grandchild = psutil.Process(parent.pid).children()[0]
        assert stop_autoscaler_monitor() == [ours.pid]
        ours.wait(5)  # ended (psutil reaped it already, so no exit status is left to read)
        assert not psutil.pid_exists(ours.pid)
        assert bystander.poll() is None and parent.poll() is None and grandchild.is_running()
    finally:
        for proc in (bystander, parent):
            proc.kill()
            proc.wait(5)
        psutil.Process(grandchild.pid).kill() if grandchild.is_running() else None
