"""``orchestrator server``: an MLflow tracking server for a cluster, and the URI jobs should use.

On one machine the default SQLite file is enough. On a cluster the job's driver may run anywhere and
trials' artifacts must land in one store, so run this on the head node: it serves the runs (SQLite or
PostgreSQL backend) and proxies artifact uploads (``--serve-artifacts``) to a local folder or a bucket,
so drivers need only the server's URL, never the bucket's credentials.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from orchestrator.spec import SweepError

DEFAULT_PORT = 5000
# MLflow >= 3.5 starts a job runner with it (about nine huey consumer processes, ~275 MB and a full `import
# mlflow` each) for its GenAI jobs, which sweeps never submit: off unless asked for (--job-execution) or set.
JOB_EXECUTION_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def default_backend() -> str:
    return f"sqlite:///{Path.cwd() / 'mlruns-server.db'}"


def default_artifacts() -> str:
    return str(Path.cwd() / "mlartifacts")


def check_backend(uri: str) -> None:
    """Fail with the fix before the server starts when the backend cannot be used from here."""
    if uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///"):]).expanduser().parent
        if not folder.is_dir():
            raise SweepError(f"the SQLite backend {uri} lies in {folder}, which does not exist. Create the folder "
                             f"or pass --backend-store-uri sqlite:////ABSOLUTE/PATH/mlflow.db.")
        return
    if uri.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise SweepError(f"the backend {uri.split('@')[-1]!r} is PostgreSQL but the psycopg2 driver is not "
                             f"installed. Install it (`pip install psycopg2-binary`) and start the server again.") from None
        return
    if uri.startswith(("mysql://", "mysql+pymysql://", "mssql://")):
        return
    raise SweepError(f"--backend-store-uri {uri!r}: use sqlite:////ABSOLUTE/PATH/mlflow.db or "
                     f"postgresql://USER:PASSWORD@HOST:5432/DB (a database MLflow can share between writers).")


def server_command(backend: str, artifacts: str, host: str, port: int, workers: int,
                   allowed_hosts: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend, "--serve-artifacts",
           "--artifacts-destination", artifacts, "--host", host, "--port", str(port), "--workers", str(workers)]
    if allowed_hosts:
        cmd += ["--allowed-hosts", allowed_hosts]
    return cmd


def client_uri(host: str, port: int) -> str:
    """What drivers and jobs pass as ``--tracking-uri``: this machine's name when bound to all interfaces."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn() or socket.gethostname()
    return f"http://{host}:{port}"


def cmd_server(args: argparse.Namespace) -> int:
    check_backend(args.backend_store_uri)
    uri = client_uri(args.host, args.port)
    where = ("reachable from this machine only: run it on the Ray head, where submitted jobs' drivers run"
             if args.host in ("127.0.0.1", "localhost", "::1") else f"listening on {args.host}")
    print(f"MLflow tracking server: backend {args.backend_store_uri}, artifacts proxied to {args.artifacts_destination} "
          f"({where}).\nJobs should use:  --tracking-uri {uri}   (or MLFLOW_TRACKING_URI={uri})\n"
          f"UI: {uri} in a browser (through `ssh -L {args.port}:127.0.0.1:{args.port} HEAD` from elsewhere). "
          f"Ctrl-C stops it.", flush=True)
    cmd = server_command(args.backend_store_uri, args.artifacts_destination, args.host, args.port, args.workers,
                         args.allowed_hosts)
    os.environ[JOB_EXECUTION_ENV] = "true" if args.job_execution else os.environ.get(JOB_EXECUTION_ENV, "false")
    os.execvp(cmd[0], cmd)
    return 0


def add_server_command(sub) -> None:
    sp = sub.add_parser("server", help="start an MLflow tracking server for a cluster (artifact proxy included)")
    sp.add_argument("--backend-store-uri", default=default_backend(),
                    help="sqlite:////PATH/mlflow.db or postgresql://USER:PW@HOST/DB (default: ./mlruns-server.db)")
    sp.add_argument("--artifacts-destination", default=default_artifacts(),
                    help="where the proxied artifacts go: a folder or s3://BUCKET/PREFIX, gs://... (default: ./mlartifacts)")
    sp.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    sp.add_argument("--port", type=int, default=DEFAULT_PORT)
    sp.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    sp.add_argument("--allowed-hosts", default=None, help="Host headers to accept when bound beyond localhost")
    sp.add_argument("--job-execution", action="store_true",
                    help=f"also start MLflow's job runner (GenAI jobs; ~9 extra processes). Default: off, unless "
                         f"{JOB_EXECUTION_ENV} is set")
    sp.set_defaults(fn=cmd_server)
