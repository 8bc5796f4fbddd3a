"""Security and leftovers: no pickle runs code on load, no secret is uploaded, no token crosses the network in
clear text, the private Ray listens on loopback only, a dead driver's Ray processes are ended, and two launches
on a new SQLite store both succeed."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from orchestrator.context import LocalContext
from orchestrator.spec import SweepError

REPO = Path(__file__).resolve().parents[2]


class _RunsCode:
    """A pickle payload that, if unpickled, creates a file (what an attacker's checkpoint would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def _malicious_file(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump({"step": _RunsCode(marker)}, fh)


def test_trial_checkpoint_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned.txt"
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / "trial")
    _malicious_file(ctx.work_dir / "checkpoint.pt", marker)
    with pytest.raises(RuntimeError, match="corrupt or unreadable"):
        ctx.restore()
    assert not marker.exists()
    ctx.checkpoint({"step": 3, "weights": [1.0, 2.0]})  # plain state still round-trips
    assert ctx.restore() == {"step": 3, "weights": [1.0, 2.0]}


def test_compgs_scene_cache_with_code_is_refused(tmp_path):
    import pickle as std_pickle

    from workloads.compgs import generated_scene

    name = next(iter(generated_scene.SCENES))
    size = generated_scene.SCENES[name][-3]
    cache = tmp_path / "compgs" / f"{name}-{size}px-v{generated_scene.CACHE_VERSION}.pt"
    marker = tmp_path / "pwned.txt"
    _malicious_file(cache, marker)
    with pytest.raises(std_pickle.UnpicklingError):
        generated_scene.make_scene(name, tmp_path)
    assert not marker.exists()


def test_no_code_loads_pickles_with_weights_only_false():
    """Every ``torch.load`` call in the code passes ``weights_only=True`` (parsed, so hints in messages don't count)."""
    import ast

    offenders, calls = [], 0
    for folder in ("orchestrator", "workloads", "results", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                    calls += 1
                    kw = {k.arg: k.value for k in node.keywords}
                    if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert calls >= 5  # the scan did see the loads (checkpoints, caches, weights)
    assert offenders == []


# -- submit: what is uploaded, how the token travels --------------------------------------------
def _checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    for rel, text in {"orchestrator/x.py": "print(1)\n", "sweeps/a.yaml": "name: a\n", ".env": "TOKEN=s3cr3t\n",
                      "deploy/.env.prod": "X=1\n", "keys/cluster.pem": "-----BEGIN-----\n", ".ssh/id_ed25519": "k\n",
                      "ray_results/old/state.json": "{}\n", "mlruns.db": "db", "notes/aws_credentials": "x\n",
                      ".gitignore": "ignored.log\n", "ignored.log": "noise\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def test_upload_set_keeps_secrets_back(tmp_path):
    from orchestrator.submit import EXCLUDES
    from orchestrator.upload_policy import upload_excludes, upload_set

    root = _checkout(tmp_path)
    go, kept = upload_set(root, upload_excludes(EXCLUDES))
    assert go == [".gitignore", "orchestrator/x.py", "sweeps/a.yaml"]
    assert sorted(kept) == [".env", ".ssh/id_ed25519", "deploy/.env.prod", "keys/cluster.pem", "notes/aws_credentials"]
    assert ".env" in upload_excludes(EXCLUDES) and "*.pem" in upload_excludes(EXCLUDES)


def test_snapshot_is_stable_while_a_file_grows(tmp_path, capsys):
    from orchestrator.upload_policy import snapshot_working_dir

    root = _checkout(tmp_path)
    log = root / "orchestrator" / "submit.log"
    log.write_text("start\n")
    stop = threading.Event()

    def grow():
        with open(log, "a") as fh:
            while not stop.is_set():
                fh.write("x" * 4096 + "\n")
                fh.flush()

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        snap = snapshot_working_dir(root, ["ray_results", "mlruns.db"])
    finally:
        stop.set()
        writer.join()
    files = sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file())
    assert files == [".gitignore", "orchestrator/submit.log", "orchestrator/x.py", "sweeps/a.yaml"]
    size = (snap / "orchestrator" / "submit.log").stat().st_size
    time.sleep(0.1)
    assert (snap / "orchestrator" / "submit.log").stat().st_size == size  # a frozen copy, whatever the writer does
    err = capsys.readouterr().err
    assert "uploading 4 files" in err and "kept back as secrets: .env" in err


@pytest.mark.parametrize("address, token, allowed, ok", [
    ("http://10.0.0.5:8265", "t", False, False),
    ("10.0.0.5:8265", "t", False, False),
    ("http://head.example.org:8265", "t", False, False),
    ("http://10.0.0.5:8265", "t", True, True),
    ("https://head.example.org:8265", "t", False, True),
    ("http://127.0.0.1:8265", "t", False, True),
    ("http://localhost:8265", "t", False, True),
    ("http://[::1]:8265", "t", False, True),
    ("http://10.0.0.5:8265", None, False, True),
])
def test_token_never_in_clear_text_to_a_remote_host(address, token, allowed, ok, monkeypatch):
    from orchestrator.upload_policy import ALLOW_PLAIN_TOKEN_ENV, check_token_transport

    monkeypatch.setenv(ALLOW_PLAIN_TOKEN_ENV, "1" if allowed else "0")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if ok:
        assert check_token_transport(address, headers) == headers
    else:
        with pytest.raises(SweepError, match="refusing to send the Ray auth token over plain HTTP"):
            check_token_transport(address, headers)


# -- Ray: loopback only, nothing left behind ----------------------------------------------------
def _is_loopback(ip: str) -> bool:
    return ip in ("127.0.0.1", "::1") or ip.startswith("127.") or ip == "::ffff:127.0.0.1"


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_private_ray_listens_on_loopback_only(tmp_path):
    script = textwrap.dedent("""
        import json, sys, time, psutil
        from orchestrator.launch import ensure_ray
        ensure_ray(num_cpus=1)
        import ray

        @ray.remote
        def f():
            return 1

        ray.get(f.remote())
        time.sleep(2)
        out = []
        for p in psutil.Process().children(recursive=True):
            try:
                out += [[p.name(), c.laddr.ip, c.laddr.port] for c in p.net_connections(kind="inet")
                        if c.status == psutil.CONN_LISTEN]
            except psutil.Error:
                pass
        print("LISTEN" + json.dumps(out))
    """)
    env = {**os.environ, "ORCHESTRATOR_STATE": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    line = next(x for x in res.stdout.splitlines() if x.startswith("LISTEN"))
    listening = json.loads(line[len("LISTEN"):])
    assert len(listening) >= 3, listening  # GCS, raylet, agents: we did look at real sockets
    assert [x for x in listening if not _is_loopback(x[1])] == []


def test_reap_orphans_ends_only_dead_drivers_processes(tmp_path):
    from orchestrator.ray_sessions import orphaned_processes, reap_orphans, state_dir

    state = tmp_path / "state"
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        def record(name, driver, proc):
            p = psutil.Process(proc.pid)
            (state_dir(state) / f"{name}.json").write_text(json.dumps({
                "driver": driver, "session_dir": str(tmp_path / name),
                "processes": [{"pid": proc.pid, "started": round(p.create_time(), 2), "name": p.name()}]}))

        dead = json.dumps({"host": os.uname().nodename, "pid": 2 ** 22 + 7, "started": 1.0})
        from orchestrator.launch_state import driver_identity

        record("dead", dead, orphan)
        record("live", driver_identity(), bystander)
        (tmp_path / "dead").mkdir()
        assert orphaned_processes(state) == [orphan.pid]
        assert reap_orphans(remove_session_dirs=True, state=state) == [orphan.pid]
        assert orphan.wait(timeout=10) is not None
        assert bystander.poll() is None  # its driver (this process) is alive
        assert not (tmp_path / "dead").exists()
        assert orphaned_processes(state) == []
    finally:
        for proc in (orphan, bystander):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# -- two launches on a new SQLite store ---------------------------------------------------------
@pytest.mark.slow
def test_concurrent_launches_on_a_new_store_both_succeed(tmp_path, write_sweep):
    """Both `run --local` launches create the store at the same moment; the schema is made under a lock."""
    path = write_sweep("name: concurrent\nworkload: toy_quadratic\ngrid: {x: [0.0, 1.0]}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)]),
           "ORCHESTRATOR_PLUGINS": "support.toy_workloads"}
    for round_ in range(2):  # before the lock: one of the two crashed in MLflow's migration, 4 rounds of 4
        db = tmp_path / f"new-{round_}.db"
        cmd = [sys.executable, "-m", "orchestrator", "run", str(path), "--local", "--scale", "smoke",
               "--tracking-uri", f"sqlite:///{db}"]
        procs = [subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err[-3000:]
        import sqlite3

        with sqlite3.connect(db) as con:
            n = con.execute("select count(*) from runs r join tags t on t.run_uuid = r.run_uuid where "
                            "t.key = 'orchestrator.role' and t.value = 'trial' and r.status = 'FINISHED'").fetchone()[0]
        assert n == 4
