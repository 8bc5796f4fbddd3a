"""``orchestrator submit``: run a sweep as a Ray job on a cluster (Ray Jobs API).

The equivalent plain command (see README):
    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env-json '{"excludes": [".venv", "data", "results/out", "ray_results", "mlartifacts", "mlruns.db", ".git"]}' \\
        -- python -m orchestrator run SWEEP --scale S --storage-path STORAGE

The job's driver runs on the head node. Tune's state goes to ``--storage-path`` (default ``~/ray_results`` on
the head, never the job's temporary working dir), so ``submit --resume`` finds the launch again; on a cluster
of several nodes that must be a location every node reaches (NFS, s3://, gs://).
"""
from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path

from orchestrator.spec import Sweep, SweepError
from orchestrator.upload_policy import check_token_transport, snapshot_working_dir, upload_excludes
from orchestrator.storage import STORAGE_ENV, is_uri
from orchestrator.tracking import git_commit

REPO_ROOT = Path(__file__).resolve().parent.parent
EXCLUDES = [".venv", "data", "results/out", "ray_results", "mlartifacts", "mlruns.db", ".git", ".cache",
            ".devcarry", ".whl", "**/__pycache__", ".pytest_cache"]
# Expanded by ``orchestrator run`` on the head (the entrypoint is quoted, so the submitting shell leaves it).
HEAD_STORAGE = "~/ray_results"
COMMIT_ENV = "ORCHESTRATOR_GIT_COMMIT"  # tracking.git_commit() prefers it: the job's copy has no .git


def _submit_env() -> dict[str, str]:
    """``ORCHESTRATOR_SUBMIT_ENV="K=V,K2=V2"``: environment variables for the job (plugins, data paths)."""
    raw = os.environ.get("ORCHESTRATOR_SUBMIT_ENV", "")
    pairs = [item.split("=", 1) for item in raw.split(",") if "=" in item]
    return {k.strip(): v for k, v in pairs}


def auth_headers() -> dict[str, str]:
    """Recent Ray heads enable token auth when a token exists; send ours (env or ~/.ray) if we have one."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = os.environ.get("RAY_AUTH_TOKEN")
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if not token and token_file.is_file():
        token = token_file.read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def job_storage(storage_path: str | None) -> str:
    """``--storage-path`` > local ``$ORCHESTRATOR_STORAGE`` > ``~/ray_results`` on the head (persistent)."""
    value = storage_path or os.environ.get(STORAGE_ENV) or HEAD_STORAGE
    if not is_uri(value) and not value.startswith(("/", "~")):
        raise SweepError(f"--storage-path {value!r} is relative, so it would point into the job's temporary "
                         f"working dir and be lost with it. Give an absolute path that exists on the cluster "
                         f"(e.g. /mnt/nfs/ray_results) or a URI such as s3://BUCKET/ray_results.")
    return value


def project_dependencies(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The ``[project] dependencies`` of the project: what a worker needs to run any workload."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def package_list(value: str) -> list[str]:
    """``project`` | a requirements file | ``pkg1,pkg2==1.0``: the packages for a runtime_env."""
    if value == "project":
        return project_dependencies()
    path = Path(value).expanduser()
    if path.is_file():
        lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
        return [line for line in lines if line]
    return [item.strip() for item in value.split(",") if item.strip()]


def packages_env(pip: str | None = None, uv: str | None = None) -> dict:
    """The ``pip``/``uv`` part of the job's runtime_env (empty: the cluster's own Python environment)."""
    if pip and uv:
        raise SweepError("--pip and --uv both name the job's packages; give one of them.")
    if not (pip or uv):
        return {}
    installer, value = ("pip", pip) if pip else ("uv", uv)
    packages = package_list(value)
    if not packages:
        raise SweepError(f"--{installer} {value!r} names no package. Pass `project` (the project's own "
                         f"dependencies), a requirements file, or a comma-separated list.")
    return {installer: {"packages": packages}}


def build_entrypoint(sweep: Sweep, scale: str, sets: list[str], tracking_uri: str | None,
                     extra_args: list[str] | None = None, *, storage_path: str | None = None,
                     resume: bool = False) -> str:
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
    if storage_path:
        parts += ["--storage-path", storage_path]
    if resume:
        parts += ["--resume"]
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
                raise SweepError(packaging_error(exc)) from None
            time.sleep(2)


def packaging_error(exc: Exception) -> str:
    """One paragraph for a job Ray refused to take: what went wrong and what to change."""
    text = " ".join(str(exc).split())[:600]
    if "size" in text.lower() and ("exceed" in text.lower() or "too large" in text.lower()):
        hint = ("The working dir uploaded with the job is too large: move data, checkpoints and outputs out of "
                "the checkout (or under data/, results/out/, ray_results/, which are excluded) and submit again.")
    elif "pip" in text.lower() or "uv" in text.lower() or "runtime_env" in text.lower() or "runtime env" in text.lower():
        hint = ("The job's runtime_env was rejected: check the --pip/--uv package list (names and versions "
                "must resolve on the cluster) or leave both out to use the cluster's own environment.")
    else:
        hint = ("Check that the head runs the same Ray version as this machine (`ray --version` on both) and "
                "that the checkout can be read and packed, then submit again.")
    return f"the Ray head did not accept the job ({type(exc).__name__}: {text}). {hint}"


def submit(sweep: Sweep, *, address: str, scale: str, sets: list[str], follow: bool = False,
           tracking_uri: str | None = None, extra_args: list[str] | None = None, env_vars: dict[str, str] | None = None,
           timeout_s: float | None = None, storage_path: str | None = None, resume: bool = False,
           pip: str | None = None, uv: str | None = None) -> str:
    from ray.job_submission import JobStatus, JobSubmissionClient

    headers = check_token_transport(address, auth_headers())  # never a token in clear text over the network
    try:
        client = JobSubmissionClient(address, headers=headers)
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
    storage = job_storage(storage_path)
    entrypoint = build_entrypoint(sweep, scale, sets, tracking_uri, extra_args, storage_path=storage, resume=resume)
    # orchestrator.upload_policy: a snapshot (files changing mid-pack broke the upload), secrets kept back
    snapshot = snapshot_working_dir(REPO_ROOT, EXCLUDES)
    runtime_env = {"working_dir": str(snapshot), "excludes": upload_excludes(EXCLUDES), **packages_env(pip, uv)}
    env = {COMMIT_ENV: git_commit(), **_submit_env()}
    env.update(env_vars or {})
    runtime_env["env_vars"] = env
    try:
        job_id = _submit_with_retry(client, entrypoint=entrypoint, runtime_env=runtime_env,
                                    metadata={"sweep": sweep.name, "scale": scale, "storage": storage})
    except SweepError:
        raise
    except Exception as exc:  # packing or uploading the working dir, runtime_env validation
        raise SweepError(packaging_error(exc)) from None
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    print(f"submitted job {job_id}: {entrypoint}")
    where = storage if is_uri(storage) else f"{storage} on the head node"
    print(f"Tune state in {where} ; follow: ray job logs {job_id} --follow --address {address} ; "
          f"resume: orchestrator submit {sweep.rel_path} --scale {scale} --address {address} --resume "
          f"--storage-path {storage}")
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
                    raise SweepError(job_failure(client, job_id, status.value, address))
                break
            if timeout_s and time.time() - start > timeout_s:
                raise SweepError(f"Ray job {job_id} still running after {timeout_s:.0f}s")
            time.sleep(2)
    return job_id


def job_failure(client, job_id: str, status: str, address: str) -> str:
    """Why a job ended badly, from Ray's job record (a driver killed by a signal leaves an empty log)."""
    try:
        info = client.get_job_info(job_id)
        message = " ".join(str(info.message or "").split())
    except Exception as exc:  # the head went away as well
        message = f"(its record could not be read: {exc})"
    return (f"Ray job {job_id} ended {status}: {message[:1500] or 'Ray gave no reason'}. Its log: `ray job logs "
            f"{job_id} --address {address}`. A sweep interrupted this way continues with the same command plus "
            f"--resume (and the same --storage-path).")


STORAGE_HELP = ("where Ray Tune keeps trial state, checkpoints and resume pointers: a path, an NFS path, or a "
                "pyarrow URI (s3://BUCKET/PREFIX, gs://..., hdfs://...) passed to Tune unchanged "
                "(default: $ORCHESTRATOR_STORAGE or ./ray_results)")


def add_submit_options(sp) -> None:
    """The cluster options of ``orchestrator submit`` (the sweep options come from the CLI)."""
    sp.add_argument("--storage-path", default=None,
                    help="Tune storage seen from the cluster: an absolute path on the head, NFS, or s3://, gs://... "
                         f"(default: $ORCHESTRATOR_STORAGE or {HEAD_STORAGE} on the head)")
    sp.add_argument("--resume", action="store_true", help="continue the last interrupted launch (same --storage-path)")
    sp.add_argument("--pip", nargs="?", const="project", default=None, metavar="PACKAGES",
                    help="install packages for the job with pip: `project` (the default when the flag is given "
                         "alone: the project's own dependencies), a requirements file, or pkg1,pkg2==1.0")
    sp.add_argument("--uv", nargs="?", const="project", default=None, metavar="PACKAGES",
                    help="as --pip, installed with uv (faster)")
