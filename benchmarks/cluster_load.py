"""Load test: a 200-trial smoke sweep submitted to the two-node test cluster (no shared disk, S3 storage).

Measures the job's wall time, MLflow runs against trials, runs lost, where trials ran, and the driver's
resident memory over the sweep (sampled every 2 s, with the S3 server's memory and the machine's load average),
and writes them as JSON; the job's log and every server's and Ray node's logs go next to it (``X.json`` -> ``X/``).

    python benchmarks/cluster_load.py [--out /tmp/cluster_load.json] [--sweep tests/support/sweeps/cluster_load.yaml]

Needs root (unshare --mount) and moto[server]; it starts and ends every process it uses.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import support.toy_workloads  # noqa: E402,F401  (registers toy_quadratic, the load test's workload)
from support.two_node_cluster import TwoNodeCluster, unshare_problem  # noqa: E402


def find_driver(marker: str, timeout: float = 300):
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = proc.info["cmdline"] or []
            if len(cmd) > 3 and "python" in Path(cmd[0]).name and "orchestrator" in cmd and marker in " ".join(cmd):
                return proc
        time.sleep(0.5)
    raise RuntimeError("the job's driver never started")


def rss_mb(proc) -> float | None:
    """Resident memory of a psutil process in MB, ``None`` once it has exited."""
    try:
        return round(proc.memory_info().rss / 2**20, 1)
    except Exception:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default=str(REPO / "tests/support/sweeps/cluster_load.yaml"))
    ap.add_argument("--out", default="/tmp/cluster_load.json")
    ap.add_argument("--head-cpus", type=int, default=2)
    ap.add_argument("--node2-cpus", type=int, default=3)
    args = ap.parse_args()
    problem = unshare_problem()
    if problem:
        print(f"cannot build the test cluster: {problem}", file=sys.stderr)
        return 2

    import psutil
    from mlflow.tracking import MlflowClient
    from ray.job_submission import JobSubmissionClient

    from orchestrator.spec import load_sweep
    from orchestrator.submit import auth_headers, submit

    t0 = time.time()
    cluster = TwoNodeCluster(head_cpus=args.head_cpus, node2_cpus=args.node2_cpus).start()
    startup_s = time.time() - t0
    try:
        for key, value in cluster.env().items():
            if key.startswith(("AWS_", "MLFLOW_S3", "RAY_AUTH")):
                os.environ[key] = value
        os.environ["ORCHESTRATOR_SUBMIT_ENV"] = cluster.job_env()
        sweep = load_sweep(args.sweep, "smoke")
        n_trials = len(sweep.trials())
        t_submit = time.time()
        job = submit(sweep, address=cluster.dashboard, scale="smoke", sets=[], tracking_uri=cluster.tracking_uri,
                     storage_path=cluster.storage("load/ray"), extra_args=["--set-resources", "cpu=1"])
        driver = find_driver(Path(args.sweep).name)
        jobs = JobSubmissionClient(cluster.dashboard, headers=auth_headers())
        client = MlflowClient(cluster.tracking_uri)
        s3 = psutil.Process(cluster.procs["s3"].pid)
        # (seconds since submit, finished runs, driver RSS MB, S3 server RSS MB, 1-min load average)
        samples: list[tuple[float, int, float, float, float]] = []
        while True:
            status = jobs.get_job_status(job).value
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            rss = rss_mb(driver)  # None: the driver just exited
            exp = client.get_experiment_by_name(sweep.name)
            done = 0
            if exp is not None:
                done = len(client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED' and "
                                              "tags.`orchestrator.role` = 'trial'", max_results=1000))
            if rss is not None:
                samples.append((round(time.time() - t_submit, 1), done, rss, rss_mb(s3), os.getloadavg()[0]))
            time.sleep(2)
        wall_s = time.time() - t_submit
        # Keep the evidence before the cluster goes: the job's log and reason, the servers' and nodes' logs.
        out_dir = Path(args.out).with_suffix("")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "job.log").write_text(jobs.get_job_logs(job))
        job_message = jobs.get_job_info(job).message
        cluster.collect_logs(out_dir)
        exp = client.get_experiment_by_name(sweep.name)
        runs = client.search_runs([exp.experiment_id], "tags.`orchestrator.role` = 'trial'", max_results=5000)
        finished = [r for r in runs if r.info.status == "FINISHED"]
        points = {(r.data.tags.get("config_hash"), r.data.tags.get("seed")) for r in finished}
        nodes = Counter("head" if r.data.tags.get("orchestrator.node") == cluster.head_id else
                        "second" if r.data.tags.get("orchestrator.node") == cluster.node2_id else "?" for r in runs)
        missing = sum("orchestrator.missing_artifacts" in r.data.tags for r in runs)
        with_artifacts = sum({"note.txt", "checkpoint"} <= {a.path for a in client.list_artifacts(r.info.run_id)}
                             for r in finished[:20])
        rss = [s[2] for s in samples]
        s3_rss = [s[3] for s in samples if s[3] is not None]
        # memory after a quarter of the trials vs at the end: a per-trial leak would show as growth here
        quarter = next((s[2] for s in samples if s[1] >= n_trials // 4), rss[0] if rss else None)
        report = {
            "sweep": sweep.name, "trials": n_trials, "job_status": status, "job_message": job_message, "cluster_startup_s": round(startup_s, 1),
            "wall_s": round(wall_s, 1), "mlflow_trial_runs": len(runs), "finished": len(finished),
            "distinct_points_finished": len(points), "lost": n_trials - len(points),
            "run_status": dict(Counter(r.info.status for r in runs)),  # RUNNING here = a run left open
            "runs_per_node": dict(nodes), "runs_with_missing_artifact_tag": missing,
            "artifacts_checked_of_first_20": with_artifacts,
            "driver_rss_mb": {"first": rss[0] if rss else None, "at_quarter": quarter,
                              "median": statistics.median(rss) if rss else None, "max": max(rss) if rss else None,
                              "last": rss[-1] if rss else None},
            "s3_server_rss_mb": {"first": s3_rss[0] if s3_rss else None, "max": max(s3_rss) if s3_rss else None,
                                 "last": s3_rss[-1] if s3_rss else None},
            "load_average_1min": {"min": min(s[4] for s in samples) if samples else None,
                                  "median": statistics.median(s[4] for s in samples) if samples else None,
                                  "max": max(s[4] for s in samples) if samples else None},
            "samples": samples, "machine": f"{os.cpu_count()} CPU cores (shared), "
                                           f"head {args.head_cpus} + second node {args.node2_cpus} Ray CPUs",
        }
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
        return 0 if status == "SUCCEEDED" and report["lost"] == 0 else 1
    except BaseException:
        cluster.collect_logs(Path(args.out).with_suffix(""))  # the harness itself failed: keep the evidence
        raise
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
