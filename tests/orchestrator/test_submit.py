"""`orchestrator submit` against a real local Ray head started by the test."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pytest

from orchestrator.cli import main
from orchestrator.spec import load_sweep
from orchestrator.submit import build_entrypoint

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

REPO = Path(__file__).resolve().parents[2]
SWEEP = REPO / "tests" / "support" / "sweeps" / "toy_submit.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_dashboard(port: int, timeout: float = 120) -> None:
    import urllib.error
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/version", timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError:
            return  # it answers (401 when token authentication is on)
        except OSError:
            time.sleep(1)
    raise AssertionError("the Ray dashboard did not come up")


def test_entrypoint_is_relative_and_quoted():
    sweep = load_sweep(SWEEP, "smoke")
    ep = build_entrypoint(sweep, "smoke", ["lr=0.5"], "sqlite:////tmp/x y.db")
    assert ep.startswith("python -m orchestrator run tests/support/sweeps/toy_submit.yaml --scale smoke")
    assert "--set lr=0.5" in ep and "'sqlite:////tmp/x y.db'" in ep


def test_submit_unreachable_head_is_a_clear_error(capsys):
    port = _free_port()
    rc = main(["submit", str(SWEEP), "--scale", "smoke", "--address", f"http://127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach the Ray dashboard" in err and "Traceback" not in err


def test_submit_runs_the_sweep_as_a_ray_job(tmp_path, capsys):
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    assert ray_bin, "the ray CLI is installed with ray[default]"
    gcs, dash = _free_port(), _free_port()
    # The suite's in-process Ray session already holds the agents' default ports (52365, metrics, runtime
    # env): a second head on the same machine would start without a job agent ("No available agent").
    agent_ports = [f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
                   f"--runtime-env-agent-port={_free_port()}", f"--metrics-export-port={_free_port()}",
                   f"--ray-client-server-port={_free_port()}"]
    # Ray's unix socket paths must stay under ~107 characters: pytest's tmp_path is too deep.
    short_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", f"--port={gcs}", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dash}", "--include-dashboard=true", "--num-cpus=2", "--disable-usage-stats",
         f"--temp-dir={short_tmp}", *agent_ports],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_dashboard(dash)
        db = tmp_path / "jobs.db"
        os.environ["ORCHESTRATOR_SUBMIT_ENV"] = "ORCHESTRATOR_PLUGINS=support.toy_workloads,PYTHONPATH=tests"
        try:
            rc = main(["submit", str(SWEEP), "--scale", "smoke", "--address", f"http://127.0.0.1:{dash}",
                       "--tracking-uri", f"sqlite:///{db}", "--storage-path", str(tmp_path / "ray"), "--follow"])
        finally:
            os.environ.pop("ORCHESTRATOR_SUBMIT_ENV", None)
        captured = capsys.readouterr()
        out = captured.out
        assert rc == 0, out[-4000:] + captured.err[-4000:]
        assert "submitted job" in out and "SUCCEEDED" in out
        mlflow.set_tracking_uri(f"sqlite:///{db}")
        df = mlflow.search_runs(experiment_names=["toy-submit"], filter_string="tags.`orchestrator.role` = 'trial'")
        assert len(df) == 2 and set(df["status"]) == {"FINISHED"}
        assert sorted(df["metrics.objective"]) == pytest.approx([1.0, 2.0])
        # Tune's state and the resume pointer stay in the given storage, not in the job's temporary dir
        assert (tmp_path / "ray" / "toy-submit-smoke.latest.json").is_file()
        assert set(df["tags.git_commit"]) != {"unknown"}  # the submitting checkout's commit reached the job
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(short_tmp, ignore_errors=True)
