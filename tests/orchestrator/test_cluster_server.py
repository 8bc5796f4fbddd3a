"""`orchestrator server`: the MLflow tracking server a cluster's jobs log to."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orchestrator import server
from orchestrator.cli import main
from orchestrator.spec import SweepError


def test_command_proxies_artifacts_and_binds_loopback_by_default():
    cmd = server.server_command("sqlite:////srv/m.db", "s3://b/art", "127.0.0.1", 5001, 2)
    assert cmd[1:4] == ["-m", "mlflow", "server"] and "--serve-artifacts" in cmd
    assert cmd[cmd.index("--artifacts-destination") + 1] == "s3://b/art"
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "5001"
    args = __import__("orchestrator.cli", fromlist=["build_parser"]).build_parser().parse_args(["server"])
    assert args.host == "127.0.0.1" and args.backend_store_uri.startswith("sqlite:///")


@pytest.mark.parametrize("argv, env, expected", [
    ([], None, "false"),  # MLflow's own default (true) would start ~9 huey job consumers sweeps never use
    (["--job-execution"], None, "true"),
    ([], "true", "true"),  # a user's own setting is kept
])
def test_server_starts_mlflow_without_its_job_runner_unless_asked(tmp_path, monkeypatch, argv, env, expected):
    if env is None:
        monkeypatch.delenv(server.JOB_EXECUTION_ENV, raising=False)
    else:
        monkeypatch.setenv(server.JOB_EXECUTION_ENV, env)
    seen = {}
    monkeypatch.setattr(server.os, "execvp", lambda exe, cmd: seen.update(env=os.environ[server.JOB_EXECUTION_ENV]))
    assert main(["server", "--backend-store-uri", f"sqlite:///{tmp_path / 'm.db'}", *argv]) == 0
    assert seen == {"env": expected}


def test_client_uri_names_this_machine_when_bound_to_all_interfaces():
    assert server.client_uri("127.0.0.1", 5000) == "http://127.0.0.1:5000"
    uri = server.client_uri("0.0.0.0", 5000)
    assert uri.startswith("http://") and "0.0.0.0" not in uri and uri.endswith(":5000")


def test_backend_errors_name_the_fix(tmp_path, monkeypatch):
    server.check_backend(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(SweepError, match="does not exist"):
        server.check_backend(f"sqlite:///{tmp_path / 'missing' / 'm.db'}")
    with pytest.raises(SweepError, match="postgresql://USER"):
        server.check_backend("file:///tmp/mlruns")
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # as if the driver were not installed
    with pytest.raises(SweepError, match="psycopg2-binary") as err:
        server.check_backend("postgresql://u:secret@db.example:5432/mlflow")
    assert "secret" not in str(err.value)  # the password never reaches the terminal
    rc = main(["server", "--backend-store-uri", "postgresql://u:pw@db:5432/m"])
    assert rc == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_server_starts_prints_the_uri_and_accepts_runs(tmp_path):
    port = _free_port()
    exe = Path(sys.executable).parent / "orchestrator"
    proc = subprocess.Popen([str(exe), "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'm.db'}",
                             "--artifacts-destination", str(tmp_path / "art"), "--port", str(port), "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            cwd=tmp_path)
    try:
        first = proc.stdout.readline() + proc.stdout.readline()
        assert f"--tracking-uri http://127.0.0.1:{port}" in first
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("the server did not answer /health")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"http://127.0.0.1:{port}")
        exp = client.create_experiment("server-test")
        run = client.create_run(exp)
        note = tmp_path / "note.txt"
        note.write_text("via the proxy")
        client.log_artifact(run.info.run_id, str(note))
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        assert (tmp_path / "art").is_dir() and any(p.name == "note.txt" for p in (tmp_path / "art").rglob("*"))
        import psutil

        children = [" ".join(c.cmdline()) for c in psutil.Process(proc.pid).children(recursive=True)]
        assert children and not [c for c in children if "huey" in c]  # no MLflow job runner was started
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
