"""``orchestrator submit``: run a sweep as a Ray job on a cluster (Ray Jobs API).

The equivalent plain command (see README):
    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env-json '{"excludes": [".venv", "data", "results/out", "ray_results", "mlartifacts", "mlruns.db", ".git"]}' \\
        -- python -m orchestrator run SWEEP --scale S
"""
from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

from orchestrator.spec import Sweep, SweepError

REPO_ROOT = Path(__file__).resolve().parent.parent
EXCLUDES = [".venv", "data", "results/out", "ray_results", "mlartifacts", "mlruns.db", ".git", ".cache",
            ".devcarry", ".whl", "**/__pycache__", ".pytest_cache"]


def _submit_env() -> dict[str, str]:
    """``ORCHESTRATOR_SUBMIT_ENV="K=V,K2=V2"``: environment variables for the job (plugins, data paths)."""
    raw = os.environ.get("ORCHESTRATOR_SUBMIT_ENV", "")
    pairs = [item.split("=", 1) for item in raw.split(",") if "=" in item]
    return {k.strip(): v for k, v in pairs}


def _auth_headers() -> dict[str, str]:
    """Recent Ray heads enable token auth when a token exists; send ours (env or ~/.ray) if we have one."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = os.environ.get("RAY_AUTH_TOKEN")
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if not token and token_file.is_file():
        token = token_file.read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def build_entrypoint(sweep: Sweep, scale: str, sets: list[str], tracking_uri: str | None,
                     extra_args: list[str] | None = None) -> str:
    try:
        rel = sweep.path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        raise SweepError(
            f"{sweep.path} lies outside the project ({REPO_ROOT}), so it would not travel with the job's "
            f"working_dir. Copy it under sweeps/ and submit that path."
        ) from None
    parts = ["python", "-m", "orchestrator", "run", str(rel), "--scale", scale]
    for item in sets:
        parts += ["--set", item]
    if tracking_uri:
        parts += ["--tracking-uri", tracking_uri]
    parts += list(extra_args or [])
    return " ".join(shlex.quote(p) for p in parts)


def _submit_with_retry(client, wait_s: float = 90.0, **kwargs) -> str:
    """Submit, waiting while a freshly started head has no job agent yet (HTTP 500 "No available agent")."""
    deadline = time.time() + wait_s
    while True:
        try:
            return client.submit_job(**kwargs)
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.time() > deadline:
                if "No available agent" in str(exc):
                    raise SweepError(
                        f"the Ray head accepted the connection but no job agent became available within "
                        f"{wait_s:.0f}s ({exc}). Check that the head's dashboard agent runs (`ray status`, "
                        f"dashboard_agent.log under the head's session logs) and submit again."
                    ) from None
                raise
            time.sleep(2)


def submit(sweep: Sweep, *, address: str, scale: str, sets: list[str], follow: bool = False,
           tracking_uri: str | None = None, extra_args: list[str] | None = None, env_vars: dict[str, str] | None = None,
           timeout_s: float | None = None) -> str:
    from ray.job_submission import JobStatus, JobSubmissionClient

    try:
        client = JobSubmissionClient(address, headers=_auth_headers())
    except Exception as exc:  # connection refused, wrong port, not a dashboard, missing auth token
        if "uthentication" in str(exc):
            raise SweepError(
                f"the Ray dashboard at {address} requires token authentication and no valid token was found "
                f"({str(exc).splitlines()[0]}). Copy the cluster's token to ~/.ray/auth_token or set "
                f"RAY_AUTH_TOKEN, with RAY_AUTH_MODE=token."
            ) from None
        raise SweepError(
            f"cannot reach the Ray dashboard at {address} ({exc}). Start the head with `ray start --head "
            f"--dashboard-host 0.0.0.0` and pass its dashboard address, e.g. http://HEAD:8265."
        ) from None
    entrypoint = build_entrypoint(sweep, scale, sets, tracking_uri, extra_args)
    runtime_env = {"working_dir": str(REPO_ROOT), "excludes": EXCLUDES}
    env = _submit_env()
    env.update(env_vars or {})
    if env:
        runtime_env["env_vars"] = env
    job_id = _submit_with_retry(client, entrypoint=entrypoint, runtime_env=runtime_env,
                                metadata={"sweep": sweep.name, "scale": scale})
    print(f"submitted job {job_id}: {entrypoint}")
    if follow:
        start = time.time()
        seen = 0
        while True:
            logs = client.get_job_logs(job_id)
            print(logs[seen:], end="", flush=True)
            seen = len(logs)
            status = client.get_job_status(job_id)
            if status in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
                print(f"\njob {job_id} {status.value}")
                if status != JobStatus.SUCCEEDED:
                    raise SweepError(f"Ray job {job_id} ended {status.value}; its log is above "
                                     f"(also `ray job logs {job_id} --address {address}`).")
                break
            if timeout_s and time.time() - start > timeout_s:
                raise SweepError(f"Ray job {job_id} still running after {timeout_s:.0f}s")
            time.sleep(2)
    return job_id
