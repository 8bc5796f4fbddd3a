"""The Ray Tune side of a trial: the trainable and the ``Context`` it hands to the workload.

Every event is sent to the driver as a Tune result carrying a ``_kind`` marker; the driver's
``MlflowCallback`` turns them into MLflow records (one writer, no database contention).
"""
from __future__ import annotations

import importlib
import json
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.artifacts import MISSING, NODE, node_id, trial_storage, upload_to_storage
from orchestrator.context import Context, device_label, resolved_config
from orchestrator.registry import build_config, config_to_dict, get_workload
from orchestrator.spec import Trial

KIND = "_kind"
STEP = "_step"
ARTIFACTS = "_artifacts"  # storage paths of this event's artifacts (orchestrator.artifacts reads them)
TRACEBACK = "_traceback"
DEVICE = "_device"  # where the trial ran (a string: MLflow tag, never a metric)
KEYS = "_keys"  # the workload's own metric names in this event (Ray adds bookkeeping keys of its own)
GPU_NOTE = "_gpu_note"  # the sampler's GPU-metrics note (orchestrator.system_metrics.GPU_METRICS_TAG)
CONFIG = "_config"  # JSON of the config record (Context.record_config), on the trial's first event only


@dataclass
class TrialPlan:
    """What every trial of a launch shares; travels to the workers with ``tune.with_parameters``."""

    workload: str
    workload_module: str
    scale: str
    base_params: dict[str, Any]
    searched: list[str] = field(default_factory=list)
    data_root: str | None = None
    cache_dir: str | None = None
    # --resume: config hash -> storage URI of the checkpoint the interrupted launch's trial left (launch_state)
    resume_checkpoints: dict[str, str] = field(default_factory=dict)

    def resolve(self, config: dict[str, Any]) -> Trial:
        """Turn a Tune config (a grid point ``{"trial": {...}}`` or Optuna's flat sample) into a Trial."""
        if "trial" in config:
            point = dict(config["trial"])
            seed = int(point.pop("seed"))
            return Trial(point, seed)
        params = dict(self.base_params)
        for key in self.searched:
            params[key] = config[key]
        for key, value in config.items():
            if key.startswith("grid."):
                params[key[5:]] = value
        seed = int(config.get("seed", 0))
        cfg = build_config(get_workload(self.workload), params, where="search sample")
        return Trial(config_to_dict(cfg), seed)


class RayContext(Context):
    def __init__(self, plan: TrialPlan, seed: int, trial_dir: Path, device: str, resume_from: str | None = None):
        from ray import tune

        self._tune = tune
        self._last: dict[str, float] = {}
        self._summary: dict[str, float] = {}
        self._pending: list[str] = []
        self._missing: list[str] = []
        self._step = 0
        self._pending_checkpoint: Path | None = None
        self._pending_config: str | None = None
        super().__init__(seed=seed, scale=plan.scale, device=device, data_root=plan.data_root,
                         cache_dir=plan.cache_dir, work_dir=trial_work_dir(trial_dir))
        self._device_label = device_label(self.device)
        self._node = node_id()
        ckpt = tune.get_checkpoint()  # this launch's own (a retry) is newer than the interrupted launch's
        if ckpt is None and resume_from:
            from ray.tune import Checkpoint

            ckpt = Checkpoint(resume_from)  # a URI or a path; Tune resolves the filesystem
        self._restored_dir: Path | None = None
        if ckpt is not None:
            tmp = Path(tempfile.mkdtemp(prefix="restore-", dir=self.work_dir))
            self._restored_dir = Path(ckpt.to_directory(str(tmp)))

    def _send(self, kind: str, metrics: dict[str, Any]) -> None:
        # The latest streamed values ride along so schedulers and searchers always see their metric.
        payload: dict[str, Any] = {**self._last, **metrics, KIND: kind, STEP: self._step, DEVICE: self._device_label,
                                   NODE: self._node, KEYS: "\n".join(k for k in metrics if not k.startswith("_"))}
        if self._pending:
            payload[ARTIFACTS] = "\n".join(self._pending)
            self._pending = []
        if self._missing:
            payload[MISSING] = "\n".join(self._missing)
            self._missing = []
        if getattr(self.system_sampler, "gpu_note", ""):
            payload[GPU_NOTE] = self.system_sampler.gpu_note
        if self._pending_config is not None:
            payload[CONFIG] = self._pending_config
            self._pending_config = None
        if self._pending_checkpoint is None:
            self._tune.report(payload)
            return
        from ray.tune import Checkpoint

        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy2(self._pending_checkpoint, Path(tmp) / self._pending_checkpoint.name)
            self._pending_checkpoint = None
            self._tune.report(payload, checkpoint=Checkpoint.from_directory(tmp))

    def _emit_report(self, step: int, metrics: dict[str, float]) -> None:
        self._step = step
        self._last.update(metrics)
        self._send("report", metrics)

    def _emit_summary(self, metrics: dict[str, float]) -> None:
        self._summary.update(metrics)

    def _emit_config(self, record: dict[str, Any]) -> None:
        # Rides with the next event: a report of its own would count as a Tune iteration (ASHA's time axis).
        self._pending_config = json.dumps(record, default=str)

    def _emit_artifact(self, path: Path, name: str) -> None:
        # The driver may run on another node: the file goes to the trial's folder in the Tune storage,
        # which every node reaches, and the driver logs it to MLflow from there.
        try:
            fs, trial_path = trial_storage()
            self._pending.append(upload_to_storage(path, name, fs, trial_path))
        except Exception as exc:  # storage unreachable or full: the run is tagged, the trial goes on
            self._missing.append(f"{name}: could not copy to the Tune storage ({type(exc).__name__}: {exc})")

    def _on_checkpoint(self, path: Path) -> None:
        # Travels with the next report (or the final result), so checkpoints never count as Tune
        # iterations of their own (ASHA's time axis stays the workload's steps).
        self._pending_checkpoint = path

    def _restore_path(self) -> Path | None:
        if self._restored_dir is None:
            return None
        return self._restored_dir / "checkpoint.pt"

    def finish(self) -> None:
        self.deliver_config()
        self._send("final", dict(self._summary))


def trial_work_dir(trial_dir: Path, cwd: Path | None = None) -> Path:
    """The folder a trial's workload writes its files in (``ctx.work_dir``), outside Tune's trial folder.

    ``trial_dir`` (``tune.get_context().get_trial_dir()``) is, for a trial on the driver's node, inside the
    experiment folder the driver copies to the Tune storage every few seconds: files written there were copied
    on every sync, and one that vanished mid-copy (``checkpoint.tmp`` renamed to ``checkpoint.pt``) failed the
    whole launch with pyarrow's FileNotFoundError after its trials had finished (seen in CI). The workload's
    files reach MLflow through ``ctx.artifact`` and Tune through ``ctx.checkpoint``, never through that copy, so
    they go to Tune's own per-trial working directory instead (``.../working_dirs/<trial>``, the actor's cwd,
    which Tune syncs only with ``SyncConfig(sync_artifacts=True)``), or, with ``RAY_CHDIR_TO_TRIAL_DIR=0``, to a
    folder of that name under the system temporary directory."""
    cwd = Path.cwd() if cwd is None else cwd
    if cwd.name == trial_dir.name and cwd.parent.name == "working_dirs":
        return cwd / "work"
    exp = trial_dir.parent.parent if trial_dir.parent.name == "driver_artifacts" else trial_dir.parent
    return Path(tempfile.gettempdir()) / "orchestrator-work" / exp.name / trial_dir.name


def run_trial(config: dict[str, Any], plan: TrialPlan) -> None:
    """The Ray Tune function trainable."""
    import ray
    from ray import tune

    if plan.workload_module and not plan.workload_module.startswith("workloads."):
        importlib.import_module(plan.workload_module)
    trial = plan.resolve(config)
    wl = get_workload(plan.workload)
    cfg = build_config(wl, trial.params, where="trial")
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    trial_dir = Path(tune.get_context().get_trial_dir())
    ctx = RayContext(plan, trial.seed, trial_dir, device, resume_from=plan.resume_checkpoints.get(trial.config_hash))
    from orchestrator.system_metrics import SystemSampler

    ctx.system_sampler = SystemSampler(ctx.device)  # system/* values ride with the streamed reports
    try:
        ctx.record_config(resolved_config(cfg, ctx))  # MLflow params = the values that run
        wl.fn(cfg, ctx)
    except Exception:
        # The driver logs this as the run's traceback artifact before Tune retries or fails the trial.
        ctx.deliver_config()
        ctx._send("error", {TRACEBACK: traceback.format_exc()})
        raise
    ctx.finish()
