"""Sweeps on a two-node Ray cluster whose nodes share no disk (tests/support/two_node_cluster.py).

Storage: S3 (moto_server); MLflow: `orchestrator server` proxying artifacts into the same S3. The second node
sees neither the checkout nor the head's /tmp or ~/ray_results, so everything it records must travel through
the storage and the tracking server.
"""
from __future__ import annotations

import os
import re
import signal
import time
import uuid
from pathlib import Path

import pytest

from support.two_node_cluster import TwoNodeCluster, unshare_problem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500), pytest.mark.xdist_group("cluster")]

REPO = Path(__file__).resolve().parents[2]
SWEEPS = REPO / "tests" / "support" / "sweeps"


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("moto.server", reason="the cluster's S3 storage is moto[server] (the dev extra)")
    problem = unshare_problem()
    if problem:
        pytest.skip(f"the two-node cluster needs a private mount namespace: {problem}")
    c = TwoNodeCluster(head_cpus=2, node2_cpus=3).start()
    yield c
    c.stop()


@pytest.fixture
def job_env(cluster, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_SUBMIT_ENV", cluster.job_env())
    for key, value in cluster.env().items():
        if key.startswith(("AWS_", "MLFLOW_S3", "RAY_AUTH")):
            monkeypatch.setenv(key, value)  # this process reads the S3 storage and the job API too
    monkeypatch.delenv("ORCHESTRATOR_STORAGE", raising=False)


def _client(cluster):
    from mlflow.tracking import MlflowClient

    return MlflowClient(cluster.tracking_uri)


def _trial_runs(cluster, experiment: str, parent: str | None = None):
    client = _client(cluster)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    query = "tags.`orchestrator.role` = 'trial'"
    if parent:
        query += f" and tags.`mlflow.parentRunId` = '{parent}'"
    return client.search_runs([exp.experiment_id], filter_string=query, max_results=1000)


@pytest.fixture
def tag():
    """A storage prefix of this test's own (experiment names differ per test; the MLflow server is per module)."""
    return f"t{uuid.uuid4().hex[:6]}"


def _wait_job(cluster, job_id: str, timeout: float = 600) -> str:
    from ray.job_submission import JobSubmissionClient

    from orchestrator.submit import auth_headers

    client = JobSubmissionClient(cluster.dashboard, headers=auth_headers())
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.get_job_status(job_id).value
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        time.sleep(2)
    raise AssertionError(f"job {job_id} still running after {timeout:.0f}s:\n{client.get_job_logs(job_id)[-3000:]}")


def _job_logs(cluster, job_id: str) -> str:
    from ray.job_submission import JobSubmissionClient

    from orchestrator.submit import auth_headers

    return JobSubmissionClient(cluster.dashboard, headers=auth_headers()).get_job_logs(job_id)[-6000:]


def _submit(cluster, sweep: Path, storage: str, *extra: str, resume: bool = False, cpu: int = 1) -> str:
    from orchestrator.spec import load_sweep
    from orchestrator.submit import submit

    return submit(load_sweep(sweep, "smoke"), address=cluster.dashboard, scale="smoke", sets=[],
                  tracking_uri=cluster.tracking_uri, extra_args=["--set-resources", f"cpu={cpu}", *extra],
                  storage_path=storage, resume=resume)


def test_trials_on_the_diskless_node_record_every_artifact_and_checkpoint(cluster, job_env, tag):
    cluster.ensure_second_node()
    sweep = SWEEPS / "cluster_artifacts.yaml"
    storage = cluster.storage(f"{tag}/ray")
    job = _submit(cluster, sweep, storage, cpu=3)  # 3 CPUs: only the second node has them
    status = _wait_job(cluster, job)
    assert status == "SUCCEEDED", _job_logs(cluster, job)
    runs = _trial_runs(cluster, "cluster-artifacts")
    assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}
    client = _client(cluster)
    for run in runs:
        tags = run.data.tags
        assert tags["orchestrator.node"] == cluster.node2_id, "the trial ran on the head, not the diskless node"
        assert "orchestrator.missing_artifacts" not in tags
        assert tags["git_commit"] not in ("", "unknown")  # submit hands the job the commit
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"note.txt", "checkpoint"} <= names
        note = Path(client.download_artifacts(run.info.run_id, "note.txt", str(cluster.root)))
        assert note.read_text() == f"x={float(run.data.params['x'])}\n"
        ckpt = client.download_artifacts(run.info.run_id, "checkpoint/checkpoint.pt", str(cluster.root))
        import torch

        assert torch.load(ckpt, weights_only=True) == {"step": 3}
        # MLflow's artifact store is the S3 bucket (through the server's proxy), not a disk of either node
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    from orchestrator.storage import read_pointer

    pointer = read_pointer(storage, "cluster-artifacts", "smoke")
    assert pointer and pointer["path"].startswith(f"s3://orchestrator-ci/{tag}/ray/")


def test_a_node_local_storage_path_is_refused_on_two_nodes_and_follow_prints_why(cluster, job_env, capsys):
    from orchestrator.cli import main

    cluster.ensure_second_node()
    local = str(Path.home() / "ray_results" / "node-local-only")
    rc = main(["submit", str(SWEEPS / "cluster_artifacts.yaml"), "--scale", "smoke", "--address", cluster.dashboard,
               "--tracking-uri", cluster.tracking_uri, "--storage-path", local, "--follow"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "the Ray cluster has 2 nodes but the storage path" in out and "s3://BUCKET" in out  # the job's error
    assert "ended FAILED" in err and "exit code 2" in err and "Traceback" not in err  # Ray's reason, one paragraph
    assert not Path(local).exists()  # refused before anything was written there


def test_collected_logs_hold_each_nodes_own_ray_session(cluster, tmp_path):
    """The load test's evidence: the second node's session logs come from its private /tmp, not the head's."""
    cluster.ensure_second_node()
    cluster.collect_logs(tmp_path)
    assert {"s3.log", "mlflow.log", "head.log", "node2.log"} <= {p.name for p in tmp_path.iterdir()}
    def own_id(name: str) -> set[str]:  # the node id a raylet log says it started as
        text = (tmp_path / name).read_text()
        return set(re.findall(r"Setting node ID node_id=([0-9a-f]+)", text))

    assert own_id("head-raylet.out") == {cluster.head_id} and own_id("node2-raylet.out") == {cluster.node2_id}


def _find_driver(marker: str):
    import psutil

    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if len(cmd) > 3 and "python" in Path(cmd[0]).name and "orchestrator" in cmd and marker in " ".join(cmd):
            return proc
    return None


def test_driver_sigkill_then_submit_resume_finishes_without_duplicates(cluster, job_env, tag):
    cluster.ensure_second_node()
    sweep = SWEEPS / "cluster_driver_kill.yaml"
    name = "cluster-driver-kill"
    storage = cluster.storage(f"{tag}/ray")
    job = _submit(cluster, sweep, storage)
    deadline = time.time() + 300
    while time.time() < deadline:
        runs = _trial_runs(cluster, name)
        if sum(r.info.status == "FINISHED" for r in runs) >= 2 and any(r.info.status == "RUNNING" for r in runs):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the sweep never got going:\n{_job_logs(cluster, job)}")
    driver = _find_driver(sweep.name)
    assert driver is not None, "the job's driver process was not found on this machine"
    os.kill(driver.pid, signal.SIGKILL)
    assert _wait_job(cluster, job, 180) in ("FAILED", "STOPPED")
    finished_before = {r.info.run_id for r in _trial_runs(cluster, name) if r.info.status == "FINISHED"}

    job2 = _submit(cluster, sweep, storage, resume=True)
    status = _wait_job(cluster, job2)
    assert status == "SUCCEEDED", _job_logs(cluster, job2)
    runs = _trial_runs(cluster, name)
    statuses = [r.info.status for r in runs]
    assert statuses.count("RUNNING") == 0, statuses
    finished = [r for r in runs if r.info.status == "FINISHED"]
    points = [(r.data.tags["config_hash"], r.data.tags["seed"]) for r in finished]
    assert len(points) == len(set(points)) == 6, f"duplicates or missing grid points: {sorted(points)}"
    assert finished_before <= {r.info.run_id for r in finished}  # nothing finished was lost or redone elsewhere
    assert all("objective" in r.data.metrics for r in finished)


def test_losing_the_second_node_mid_sweep_retries_its_trials_on_the_head(cluster, job_env, tag):
    cluster.ensure_second_node()
    sweep = SWEEPS / "cluster_node_loss.yaml"
    name = "cluster-node-loss"
    job = _submit(cluster, sweep, cluster.storage(f"{tag}/ray"))
    client = _client(cluster)
    deadline = time.time() + 300
    victims: list[str] = []
    while time.time() < deadline and not victims:
        for run in _trial_runs(cluster, name):
            on_node2 = run.data.tags.get("orchestrator.node") == cluster.node2_id
            if on_node2 and run.info.status == "RUNNING" and len(client.get_metric_history(run.info.run_id,
                                                                                         _loss_key(run))) >= 2:
                victims.append(run.info.run_id)
        time.sleep(1)
    assert victims, f"no trial got going on the second node:\n{_job_logs(cluster, job)}"
    finished_before = {r.info.run_id for r in _trial_runs(cluster, name) if r.info.status == "FINISHED"}
    cluster.kill_second_node()

    status = _wait_job(cluster, job, 900)
    assert status == "SUCCEEDED", _job_logs(cluster, job)
    runs = _trial_runs(cluster, name)
    assert len(runs) == 6 and {r.info.status for r in runs} == {"FINISHED"}, [r.info.status for r in runs]
    assert finished_before <= {r.info.run_id for r in runs}
    by_id = {r.info.run_id: r for r in runs}
    for rid in victims:
        tags = by_id[rid].data.tags
        assert tags["orchestrator.nodes"].split(",")[0] == cluster.node2_id
        assert tags["orchestrator.node"] == cluster.head_id, "the lost node's trial did not finish on the head"
        assert "orchestrator.missing_artifacts" not in tags
        assert {"note.txt", "checkpoint"} <= {a.path for a in client.list_artifacts(rid)}
    cluster.ensure_second_node()  # leave the cluster whole for any later test


def _loss_key(run) -> str:
    return "stream/loss" if any(k.startswith("stream/") for k in run.data.metrics) else "loss"
