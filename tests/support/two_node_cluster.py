"""A two-node Ray cluster on one machine that shares no disk, an S3 server and an MLflow tracking server.

The second Ray node runs in its own mount namespace (``unshare --mount``) with private tmpfs over the project
checkout (only the virtualenv is bound back, as a cluster image would provide it), over /tmp (the head's Ray
session, temp dirs, pytest folders) and over the head's ~/ray_results. Code reaches it only as the Ray job's
working_dir; checkpoints, artifacts and Tune state only through the S3 storage (moto_server on 127.0.0.1),
MLflow records only through the tracking server (whose artifact store is the same S3 server).

Used by tests/orchestrator/test_cluster_*.py and benchmarks/cluster_load.py. Every process is started here
and ended here, by PID; every port is a free one (other Ray heads may run on this machine).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.ray_sessions import LOOPBACK_ENV

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BUCKET = "orchestrator-ci"
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unshare_problem() -> str | None:
    """Why a private mount namespace cannot be made here (``None`` when it can)."""
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /mnt && test -w /mnt"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare --mount with a private tmpfs is not permitted here ({probe.stderr.strip() or probe.returncode})"
    return None


def _wait(check, what: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}\n{tail}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s\n{tail}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def _node_ports() -> list[str]:
    return [f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_tree(proc: subprocess.Popen, sig: int = signal.SIGKILL, grace_s: float = 15) -> None:
    """Signal ``proc`` and every process it started (by PID); SIGKILL what is left after ``grace_s``."""
    import psutil

    pids = [proc.pid, *_descendants(proc.pid)]
    _signal(pids, sig)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    _, alive = psutil.wait_procs([p for p in map(_process, pids) if p], timeout=0 if sig == signal.SIGKILL else 5)
    _signal([p.pid for p in alive], signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(timeout=10)


def _process(pid: int):
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


@dataclass
class TwoNodeCluster:
    head_cpus: int = 2
    node2_cpus: int = 3
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="c2n", dir="/tmp")))
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    # -- addresses ------------------------------------------------------------------------------
    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dash_port}"

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def storage(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}"

    def env(self) -> dict[str, str]:
        # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is what an earlier private Ray in this process (ensure_ray) left in
        # os.environ to bind the loopback only; inherited, it makes `ray start --address` refuse a second node.
        dropped = ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", LOOPBACK_ENV)
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env.update(S3_CREDENTIALS)
        env.update({"AWS_ENDPOINT_URL": self.s3_url, "MLFLOW_S3_ENDPOINT_URL": self.s3_url,
                    "PATH": os.pathsep.join([str(VENV_BIN), env.get("PATH", "")]), "RAY_USAGE_STATS_ENABLED": "0"})
        from orchestrator.submit import auth_headers

        token = auth_headers().get("Authorization", "").removeprefix("Bearer ")
        if token:  # the head turns token auth on when ~/.ray/auth_token exists; the second node must send it too
            env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
        return env

    def job_env(self) -> str:
        """``ORCHESTRATOR_SUBMIT_ENV`` for jobs: S3 endpoint and credentials, the test-only workloads."""
        items = {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": self.s3_url,
                 "ORCHESTRATOR_PLUGINS": "support.toy_workloads", "PYTHONPATH": "tests"}
        return ",".join(f"{k}={v}" for k, v in items.items())

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
        log = self.root / f"{name}.log"
        proc = subprocess.Popen(cmd, env=env or self.env(), stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=self.root)
        self.procs[name] = proc
        return proc, log

    # -- pieces -----------------------------------------------------------------------------------
    def start_s3(self) -> None:
        self.s3_port = free_port()
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        proc, log = self._spawn("s3", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)],
                                env={**os.environ, **S3_CREDENTIALS})
        _wait(lambda: _http_ok(self.s3_url), "moto_server", 60, proc, log)
        import boto3

        boto3.client("s3", endpoint_url=self.s3_url, **{k.lower(): v for k, v in S3_CREDENTIALS.items()
                                                       if k != "AWS_DEFAULT_REGION"},
                     region_name="us-east-1").create_bucket(Bucket=BUCKET)

    def start_mlflow(self) -> None:
        self.mlflow_port = free_port()
        cmd = [str(VENV_BIN / "orchestrator"), "server", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
               "--artifacts-destination", f"s3://{BUCKET}/mlartifacts", "--port", str(self.mlflow_port), "--workers", "1"]
        proc, log = self._spawn("mlflow", cmd)
        _wait(lambda: _http_ok(f"{self.tracking_uri}/health"), "the MLflow tracking server", 120, proc, log)

    def start_head(self) -> None:
        self.gcs_port, self.dash_port = free_port(), free_port()
        self.temp_dir = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # Ray's socket paths must stay short
        cmd = [str(VENV_BIN / "ray"), "start", "--head", "--block", f"--port={self.gcs_port}",
               "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dash_port}", "--include-dashboard=true",
               f"--num-cpus={self.head_cpus}", "--disable-usage-stats", f"--temp-dir={self.temp_dir}", "--node-ip-address=127.0.0.1",
               f"--ray-client-server-port={free_port()}", '--resources={"head_node": 1}', *_node_ports()]
        proc, log = self._spawn("head", cmd)
        _wait(lambda: _http_ok(f"{self.dashboard}/api/version"), "the Ray head's dashboard", 180, proc, log)
        _wait(lambda: len(self.alive_nodes()) == 1, "the Ray head node", 120, proc, log)

    def start_second_node(self) -> None:
        """A Ray worker node that sees none of the head's files (see the module docstring)."""
        home_results = Path.home() / "ray_results"
        home_results.mkdir(exist_ok=True)
        venv = REPO / ".venv"
        ray_cmd = " ".join([str(venv / "bin" / "ray"), "start", f"--address=127.0.0.1:{self.gcs_port}", "--block",
                            f"--num-cpus={self.node2_cpus}", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
                            "'--resources={\"second_node\": 1}'", *_node_ports()])
        # The venv is held on a private tmpfs at /mnt while /tmp, the checkout and ~/ray_results are covered, then
        # bound back: this works wherever the checkout lives, /tmp included (as a CI clone may), and with a
        # symlinked .venv (the bind takes the resolved folder).
        script = "\n".join([
            "set -e",
            "mount -t tmpfs tmpfs /mnt",
            f"mkdir /mnt/venv && mount --bind {venv.resolve()} /mnt/venv",
            f"mount -t tmpfs tmpfs {home_results}",
            "mount -t tmpfs tmpfs /tmp",
            f"mkdir -p {REPO} && mount -t tmpfs tmpfs {REPO}",
            f"mkdir {REPO}/.venv && mount --bind /mnt/venv {REPO}/.venv",
            f"test ! -e {REPO}/orchestrator",  # the checkout is gone: code only arrives as the job's working_dir
            f"exec {ray_cmd}",
        ])
        before = {n["node_id"] for n in self.alive_nodes()}
        proc, log = self._spawn("node2", ["unshare", "--mount", "--propagation", "private", "bash", "-c", script])
        _wait(lambda: len({n["node_id"] for n in self.alive_nodes()} - before) == 1, "the second Ray node", 180,
              proc, log)
        self.node2_id = next(n["node_id"] for n in self.alive_nodes() if n["node_id"] not in before)

    def start(self) -> "TwoNodeCluster":
        try:
            self.start_s3()
            self.start_mlflow()
            self.start_head()
            self.head_id = self.alive_nodes()[0]["node_id"]
            self.start_second_node()
        except BaseException:
            self.stop()
            raise
        return self

    # -- state ------------------------------------------------------------------------------------
    def alive_nodes(self) -> list[dict]:
        from orchestrator.submit import auth_headers

        req = urllib.request.Request(f"{self.dashboard}/api/v0/nodes?limit=100", headers=auth_headers())
        with urllib.request.urlopen(req, timeout=10) as r:
            data = json.load(r)
        return [n for n in data["data"]["result"]["result"] if n.get("state") == "ALIVE"]

    def node2_alive(self) -> bool:
        proc = self.procs.get("node2")
        return proc is not None and proc.poll() is None and any(
            n["node_id"] == getattr(self, "node2_id", None) for n in self.alive_nodes())

    def ensure_second_node(self) -> None:
        if not self.node2_alive():
            if "node2" in self.procs:
                kill_tree(self.procs.pop("node2"))
            self.start_second_node()

    def kill_second_node(self) -> None:
        """SIGKILL every process of the second node at once (a machine lost mid-sweep)."""
        kill_tree(self.procs.pop("node2"))

    def collect_logs(self, dest: Path, max_bytes: int = 2 << 20) -> list[Path]:
        """Copy the servers' logs and both Ray nodes' session logs (head: its temp dir; second node: the same path
        seen through ``/proc/<pid>/root``, its private /tmp) into ``dest``, each cut to its last ``max_bytes``.
        Called before ``stop`` so that a failed run keeps its evidence."""
        dest.mkdir(parents=True, exist_ok=True)
        sources = [("", self.root)]
        if getattr(self, "temp_dir", None):
            sources.append(("head-", Path(self.temp_dir) / "session_latest" / "logs"))
            node2 = self.procs.get("node2")
            if node2 is not None and node2.poll() is None:
                root = Path(f"/proc/{node2.pid}/root")
                latest = root / self.temp_dir.lstrip("/") / "session_latest"
                try:  # an absolute symlink would resolve in this namespace, i.e. to the head's session of that name
                    session = root / os.readlink(latest).lstrip("/")
                except OSError:
                    session = latest
                sources.append(("node2-", session / "logs"))
        copied = []
        for prefix, folder in sources:
            try:
                files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".log", ".out", ".err"))
            except OSError:
                continue
            for path in files:
                try:
                    with open(path, "rb") as f:
                        f.seek(max(0, path.stat().st_size - max_bytes))
                        (dest / f"{prefix}{path.name}").write_bytes(f.read())
                    copied.append(dest / f"{prefix}{path.name}")
                except OSError:
                    pass
        return copied

    def stop(self) -> None:
        """SIGTERM every process started here (all trees at once), SIGKILL what is left after 15 s."""
        import psutil

        trees = [[p.pid, *_descendants(p.pid)] for p in self.procs.values()]
        pids = [pid for tree in trees for pid in tree]
        _signal(pids, signal.SIGTERM)
        _, alive = psutil.wait_procs([p for p in map(_process, pids) if p], timeout=15)
        _signal([p.pid for p in alive], signal.SIGKILL)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        if getattr(self, "temp_dir", None):
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
