"""What an earlier launch of a sweep left in MLflow, read back so ``--resume`` runs exactly what is missing.

Ray Tune's own experiment state cannot be trusted for this: it does not keep a grid whose trials were not
generated yet (a kill before the first trials finished lost 19 of 22 points) and it re-executes trials whose
MLflow runs were already FINISHED. MLflow is the record the tables read, so it decides: a grid point is done
when its child run under the launch's parent run is FINISHED; everything else runs again, in the same run.
"""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any

import psutil

from orchestrator.tracking import SUMMARY_TAG  # "logged" once the trial's summary metrics reached MLflow

ROLE_TAG = "orchestrator.role"
PARENT_TAG = "mlflow.parentRunId"
DRIVER_TAG = "orchestrator.driver"          # {"host", "pid", "started"} of the process that drives the launch
SAMPLE_TAG = "orchestrator.sample"           # an Optuna trial's point in the Tune search space (JSON)
INTERRUPTED_TAG = "orchestrator.interrupted"  # why a launch or trial ended KILLED
RESUMABLE = ("RUNNING", "KILLED")            # parent states of a launch that did not complete
CHECKPOINT_TAG = "orchestrator.checkpoint"   # storage URI of a trial's latest Tune checkpoint (--resume loads it)


class ResumeError(ValueError):
    """There is no launch to resume, or it is still being driven by a live process."""


def driver_identity() -> str:
    me = psutil.Process()
    return json.dumps({"host": platform.node(), "pid": me.pid, "started": round(me.create_time(), 2)})


def driver_alive(identity: str | None) -> bool:
    """Whether the process that wrote ``identity`` still runs (same host, same pid, same start time)."""
    if not identity:
        return False
    try:
        who = json.loads(identity)
    except ValueError:
        return False
    if who.get("host") != platform.node():
        return True  # another machine's driver: we cannot tell, so never steal its launch
    try:
        proc = psutil.Process(int(who["pid"]))
        return abs(proc.create_time() - float(who["started"])) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, KeyError, ValueError):
        return False


@dataclass
class ResumePlan:
    """The state of one earlier launch: its parent run and what each of its child runs reached."""

    parent_id: str
    done_hashes: set[str] = field(default_factory=set)       # config hashes FINISHED under the parent
    failed_hashes: set[str] = field(default_factory=set)     # FAILED after their retries: not re-run (as Tune)
    reusable: dict[str, str] = field(default_factory=dict)   # config hash -> run to reopen for the re-run
    warm_points: list[dict[str, Any]] = field(default_factory=list)  # finished Optuna samples...
    warm_rewards: list[float] = field(default_factory=list)          # ...and their searched metric
    checkpoints: dict[str, str] = field(default_factory=dict)  # config hash -> its last checkpoint's URI
    n_finished: int = 0
    n_failed: int = 0


def _all(client, experiment_id: str, filter_string: str) -> list:
    out, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=filter_string, max_results=1000, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def latest_parent(client, experiment_id: str, scale: str):
    """The most recent launch (parent run) of this sweep at ``scale``, or ``None``."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'parent' and tags.scale = '{scale}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def child_runs(client, experiment_id: str, parent_id: str) -> list:
    return _all(client, experiment_id, f"tags.`{ROLE_TAG}` = 'trial' and tags.`{PARENT_TAG}` = '{parent_id}'")


def find_resumable(client, experiment_id: str, sweep_name: str, scale: str):
    """The launch ``--resume`` continues; a clear ``ResumeError`` when there is none or it is still live."""
    parent = latest_parent(client, experiment_id, scale)
    if parent is None:
        raise ResumeError(f"nothing to resume for sweep {sweep_name!r} at scale {scale!r}: it was never launched "
                          f"with this tracking store. Run it without --resume first.")
    status = parent.info.status
    if status not in RESUMABLE:
        raise ResumeError(f"nothing to resume for sweep {sweep_name!r} at scale {scale!r}: its last launch "
                          f"({parent.info.run_name}) ended {status}. Run it without --resume for a new launch, or "
                          f"with --skip-finished to run only the configurations not finished yet.")
    driver = parent.data.tags.get(DRIVER_TAG)
    if status == "RUNNING" and driver_alive(driver):
        raise ResumeError(f"the last launch of sweep {sweep_name!r} at scale {scale!r} ({parent.info.run_name}) is "
                          f"still running in process {json.loads(driver)['pid']}; resuming it now would run its "
                          f"trials twice. Wait for it to end, or stop it (Ctrl-C) and resume then.")
    return parent


def read_plan(client, experiment_id: str, parent_id: str, search_metric: str | None = None) -> ResumePlan:
    """Sort the parent's child runs into done, failed and to-be-re-run; settle the ones a dead driver left."""
    plan = ResumePlan(parent_id)
    for run in child_runs(client, experiment_id, parent_id):
        tags, status, rid = run.data.tags, run.info.status, run.info.run_id
        key = tags.get("config_hash", "")
        if status == "RUNNING" and tags.get(SUMMARY_TAG) == "logged":
            # The driver died after the trial's summary was recorded but before its run was closed.
            client.set_terminated(rid, "FINISHED")
            status = "FINISHED"
        if status == "FINISHED":
            plan.done_hashes.add(key)
            plan.n_finished += 1
            metric = run.data.metrics.get(search_metric) if search_metric else None
            if SAMPLE_TAG in tags and metric is not None:
                plan.warm_points.append(json.loads(tags[SAMPLE_TAG]))
                plan.warm_rewards.append(float(metric))
        elif status == "FAILED":
            plan.failed_hashes.add(key)
            plan.n_failed += 1
        else:
            if status == "RUNNING":
                client.set_tag(rid, INTERRUPTED_TAG, "the driver process died")
                client.set_terminated(rid, "KILLED")
            if SAMPLE_TAG not in tags:  # grid points run again in their own run; search samples are re-drawn
                plan.reusable[key] = rid
                if tags.get(CHECKPOINT_TAG):  # ... from where they stopped, when they checkpointed
                    plan.checkpoints[key] = tags[CHECKPOINT_TAG]
    return plan


def checkpoint_uri(storage: str, storage_fs_path: str, checkpoint_path: str) -> str:
    """Where a Tune checkpoint lies, as the launch's own storage URI (``s3://b/x/...`` or a path): Tune names it
    by its filesystem path (``b/x/...``, no scheme), which a later launch could not open on its own."""
    storage_fs_path = storage_fs_path.rstrip("/")
    if not checkpoint_path.startswith(storage_fs_path + "/"):
        return checkpoint_path  # not under the storage (cannot happen with Tune's layout): keep it as given
    return storage.rstrip("/") + checkpoint_path[len(storage_fs_path):]


def settle_dead_launch(client, experiment_id: str, scale: str) -> str | None:
    """A new launch first closes the previous one if its driver died (no run stays RUNNING forever)."""
    parent = latest_parent(client, experiment_id, scale)
    if parent is None or parent.info.status != "RUNNING":
        return None
    driver = parent.data.tags.get(DRIVER_TAG)
    if not driver or driver_alive(driver):  # untagged (e.g. a --local launch): it may be running right now
        return None
    read_plan(client, experiment_id, parent.info.run_id)
    client.set_tag(parent.info.run_id, INTERRUPTED_TAG, "the driver process died; superseded by a new launch")
    client.set_terminated(parent.info.run_id, "KILLED")
    return parent.info.run_id


def resume_command(sweep: Any, tracking_uri: str | None, storage: str | None) -> str:
    """The exact command that continues an interrupted launch."""
    parts = ["orchestrator", "run", str(sweep.path), "--scale", sweep.scale]
    for key, value in (sweep.sets or {}).items():
        parts += ["--set", f"{key}={value}"]
    if tracking_uri:
        parts += ["--tracking-uri", tracking_uri]
    if storage:
        parts += ["--storage-path", str(storage)]
    return " ".join(_quote(p) for p in parts + ["--resume"])


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
