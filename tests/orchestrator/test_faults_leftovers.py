"""What launches leave behind (trial folders, ended launches' Tune state) and what a cluster can host."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cleanup import LAUNCH_MARKER, clean, mark_launch
from orchestrator.launch import ResourceError, check_resources
from orchestrator.launch_state import driver_identity
from orchestrator.spec import load_sweep


def _nodes(*cpus_gpus):
    return [{"Alive": True, "Resources": {"CPU": c, "GPU": g}} for c, g in cpus_gpus] + [
        {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]  # a dead node never counts


@pytest.mark.parametrize("cpu, gpu, nodes, fits", [
    (3, 0, [(2, 0), (1, 0)], False),   # 3 CPUs in total, but no node has 3
    (2, 0, [(2, 0), (1, 0)], True),
    (1, 1, [(4, 0), (1, 1)], True),
    (2, 1, [(4, 0), (1, 1)], False),   # enough CPUs and a GPU, but not on one node
    (1, 2, [(4, 1), (4, 1)], False),   # 2 GPUs in total, 1 per node
    (1, 0.5, [(4, 0)], False),
])
def test_resources_are_compared_with_the_largest_node(cpu, gpu, nodes, fits, monkeypatch, write_sweep):
    import ray

    monkeypatch.setattr(ray, "nodes", lambda: _nodes(*nodes))
    sweep = load_sweep(write_sweep(f"name: r\nworkload: toy_quadratic\nresources: {{cpu: {cpu}, gpu: {gpu}}}\n"), "smoke")
    if fits:
        check_resources(sweep)
    else:
        with pytest.raises(ResourceError, match="largest node|has no GPU|the Ray cluster has|no node has both"):
            check_resources(sweep)


def _folder(storage: Path, name: str, files: int, **marker) -> Path:
    d = storage / name
    for i in range(files):
        (d / f"trial_{i}").mkdir(parents=True, exist_ok=True)
        (d / f"trial_{i}" / "checkpoint.pt").write_bytes(b"x")
    if marker:
        mark_launch(str(d), **marker)
    return d


def test_clean_removes_ended_launches_only(tmp_path):
    storage = tmp_path / "ray_results"
    dead = json.dumps({"host": __import__("platform").node(), "pid": 2 ** 22 + 11, "started": 1.0})
    ended = _folder(storage, "a-smoke-1", 3, driver=dead, parent_run_id="p1", status="ENDED", missing_artifacts=0)
    killed = _folder(storage, "a-smoke-2", 2, driver=dead, parent_run_id="p2")              # driver died
    running = _folder(storage, "a-smoke-3", 2, driver=driver_identity(), parent_run_id="p3")  # this process
    holds = _folder(storage, "a-smoke-4", 1, driver=dead, status="KILLED", missing_artifacts=2)
    foreign = _folder(storage, "not-ours", 1)
    (storage / "a-smoke.latest.json").write_text("{}")

    dry = clean(str(storage), dry_run=True)
    assert sorted(Path(p).name for p in dry.removed) == ["a-smoke-1", "a-smoke-2"]
    assert ended.exists() and killed.exists()

    report = clean(str(storage))
    assert sorted(Path(p).name for p in report.removed) == ["a-smoke-1", "a-smoke-2"]
    assert report.files_removed == 3 + 2 + 2  # trial files plus the two markers
    assert not ended.exists() and not killed.exists()
    assert running.exists() and holds.exists() and foreign.exists()
    assert (storage / "a-smoke.latest.json").exists()
    assert any("a-smoke-4" in k and "artifacts MLflow did not get" in k for k in report.kept)
    assert any("a-smoke-3" in k and "running" in k for k in report.kept)
    assert json.loads((running / LAUNCH_MARKER).read_text())["parent_run_id"] == "p3"


def test_clean_cli(tmp_path, capsys):
    from orchestrator.cli import main

    storage = tmp_path / "ray_results"
    _folder(storage, "b-smoke-1", 2, status="ENDED", missing_artifacts=0)
    assert main(["clean", "--storage-path", str(storage), "--dry-run"]) == 0
    assert "would remove 1 launch folder(s) (3 files)" in capsys.readouterr().out
    assert main(["clean", "--storage-path", str(storage)]) == 0
    assert "removed 1 launch folder(s) (3 files)" in capsys.readouterr().out
    assert not (storage / "b-smoke-1").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_trial_folders_stay_lean(ray_session, write_sweep, tmp_path):
    """No TensorBoard/CSV/JSON result files: MLflow is the record (was ~7 files per trial, 1,406 for 200)."""
    from orchestrator.launch import run_sweep

    sweep = load_sweep(write_sweep("name: lean\nworkload: toy_quadratic\nparams: {steps: 3}\n"
                                   "grid: {x: [0.0, 1.0, 2.0]}\n"), "smoke")
    result = run_sweep(sweep, tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}", storage_path=tmp_path / "ray",
                       verbose=0)
    assert result.n_trials == 3 and result.n_failed == 0
    run_dir = Path(result.run_dir)
    names = {p.name for p in run_dir.rglob("*") if p.is_file()}
    assert not names & {"result.json", "progress.csv", "params.pkl"}
    assert not any(n.startswith("events.out.tfevents") for n in names)
    trial_files = [p for p in run_dir.rglob("*") if p.is_file() and p.parent != run_dir]
    assert len(trial_files) / 3 <= 6, sorted(str(p.relative_to(run_dir)) for p in trial_files)
    assert json.loads((run_dir / LAUNCH_MARKER).read_text())["status"] == "ENDED"


def test_ui_on_a_busy_port_is_an_error(capsys):
    import socket

    from orchestrator.cli import main

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        assert main(["ui", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err and "--port" in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("sig_name", ["SIGINT", "SIGTERM"])
def test_local_run_interrupted_leaves_no_run_running(sig_name, tmp_path):
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parents[2]
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: local-int\nworkload: toy_quadratic\nparams: {steps: 4, sleep: 0.5}\n"
                     "grid: {x: [0.0, 1.0, 2.0, 3.0]}\n")
    db = tmp_path / "m.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "tests"), str(repo)]),
           "ORCHESTRATOR_PLUGINS": "support.toy_workloads"}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", str(sweep), "--local", "--scale", "smoke",
                             "--tracking-uri", f"sqlite:///{db}"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def statuses() -> dict[str, int]:
        try:
            with sqlite3.connect(db, timeout=5) as con:
                return dict(con.execute("select status, count(*) from runs group by status").fetchall())
        except sqlite3.OperationalError:
            return {}

    deadline = time.time() + 180
    while statuses().get("FINISHED", 0) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(0.7)
    proc.send_signal(getattr(signal, sig_name))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "--skip-finished" in err and "Traceback" not in err
    final = statuses()
    assert "RUNNING" not in final and final.get("KILLED", 0) == 2 and final.get("FINISHED", 0) == 1, final
