"""Launch, resume and record a sweep with Ray Tune; the only module that drives ``ray.tune``."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.artifacts import TrialOutputs
from orchestrator.ray_context import DEVICE, KEYS, KIND, STEP, TRACEBACK, TrialPlan, run_trial
from orchestrator.registry import get_workload
from orchestrator.spec import Sweep, SweepError, Trial
from orchestrator.storage import alive_nodes, check_reachable, join, read_pointer, resolve_storage, write_pointer
from orchestrator.tracking import Recorder, resolve_tracking_uri

os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

# Bookkeeping keys Ray Tune adds to every result; never recorded as the workload's metrics.
_RAY_KEYS = {"time_this_iter_s", "time_total_s", "timestamp", "pid", "hostname", "node_ip", "time_since_restore",
             "iterations_since_restore", "training_iteration", "done", "trial_id", "date", "checkpoint_dir_name",
             "experiment_tag", "should_checkpoint", "config"}


class ResourceError(SweepError):
    """The cluster cannot satisfy a trial's resource request."""


@dataclass
class LaunchResult:
    experiment_name: str
    parent_run_id: str | None
    n_trials: int
    n_skipped: int
    n_failed: int
    run_dir: str | None = None
    rows: list[dict[str, Any]] | None = None

    @property
    def ok(self) -> bool:
        return self.n_failed == 0


def default_storage() -> str:
    """``$ORCHESTRATOR_STORAGE`` or ./ray_results (a path or a pyarrow URI: see orchestrator.storage)."""
    return resolve_storage(None)


def _numeric(result: dict[str, Any], only_event: bool = False) -> dict[str, float]:
    """The workload's numeric metrics in a Tune result (``only_event``: just those of this event)."""
    keys = set(str(result.get(KEYS, "")).splitlines()) if only_event else None
    out = {}
    for key, value in result.items():
        if key in _RAY_KEYS or key.startswith("_") or (keys is not None and key not in keys):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[key] = float(value)
    return out


def _trial_label(trial: Trial, varying: list[str]) -> str:
    parts = [f"{k}={trial.params[k]}" for k in varying if k in trial.params]
    return " ".join(parts + [f"seed={trial.seed}"])


def _make_callback(recorder: Recorder, parent_id: str, sweep: Sweep, plan: TrialPlan, varying: list[str]):
    from ray.tune import Callback

    class MlflowCallback(Callback):
        """Driver-side MLflow writer: child run per Tune trial, reused across retries and resumes."""

        def __init__(self) -> None:
            self.runs: dict[str, str] = {}
            self.tracebacks: dict[str, str] = {}
            self.last: dict[str, dict[str, Any]] = {}
            self.outputs = TrialOutputs(recorder)

        def __reduce__(self):
            # Tune pickles the RunConfig into its experiment state; the live MLflow client stays behind
            # and `--resume` attaches a fresh callback.
            return (_NullCallback, ())

        def _run_for(self, trial) -> str:
            if trial.trial_id not in self.runs:
                t = plan.resolve(trial.config)
                self.runs[trial.trial_id] = recorder.start_trial(
                    parent_id, trial.trial_id, sweep, t.params, t.seed, t.config_hash,
                    run_name=f"{trial.trial_id} {_trial_label(t, varying)}")
            return self.runs[trial.trial_id]

        def on_trial_start(self, iteration, trials, trial, **info):
            rid = self._run_for(trial)
            recorder.client.update_run(rid, status="RUNNING")

        on_trial_restore = on_trial_start

        def on_trial_recover(self, iteration, trials, trial, **info):
            self._run_for(trial)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            rid = self._run_for(trial)
            kind = result.get(KIND)
            if trial.trial_id not in self.last and result.get(DEVICE):
                recorder.client.set_tag(rid, "orchestrator.device", str(result[DEVICE]))
            self.last[trial.trial_id] = result
            if kind in ("report", "final"):
                recorder.log_metrics(rid, _numeric(result, only_event=True), step=int(result.get(STEP, 0)))
            elif kind == "error":
                self.tracebacks[trial.trial_id] = str(result.get(TRACEBACK, ""))
            self.outputs.on_result(rid, result, trial.storage.storage_filesystem)

        def on_trial_complete(self, iteration, trials, trial, **info):
            rid = self._run_for(trial)
            if self.last.get(trial.trial_id, {}).get(KIND) != "final":
                # Stopped by the scheduler (ASHA) before the workload wrote its summary.
                recorder.client.set_tag(rid, "stopped_early", "true")
            self.outputs.on_trial_end(rid, trial)
            recorder.end_trial(rid, "FINISHED")

        def on_trial_error(self, iteration, trials, trial, **info):
            tb = self.tracebacks.get(trial.trial_id) or _read_error(trial)
            self.outputs.on_trial_end(self._run_for(trial), trial)
            recorder.end_trial(self._run_for(trial), "FAILED", tb or "trial failed without a traceback")

        def on_experiment_end(self, trials, **info):
            # A driver killed between a trial's end and our callback leaves its run RUNNING; settle it.
            for trial in trials:
                if trial.trial_id not in self.runs:
                    continue
                rid = self.runs[trial.trial_id]
                if recorder.run_status(rid) != "RUNNING":
                    continue
                if trial.status == "TERMINATED":
                    recorder.end_trial(rid, "FINISHED")
                elif trial.status == "ERROR":
                    recorder.end_trial(rid, "FAILED", _read_error(trial) or "trial failed")

    return MlflowCallback()


def _null_callback_cls():
    from ray.tune import Callback

    return Callback


class _NullCallback:
    """Stand-in that unpickles a stored callback as a no-op (see ``MlflowCallback.__reduce__``)."""

    def __new__(cls):
        return _null_callback_cls()()


def _read_error(trial) -> str | None:
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        return Path(path).read_text()
    return None


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address``/``RAY_ADDRESS`` or start a private local Ray (never an unrelated one)."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(Path.cwd())]))}}
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=True,
                 runtime_env=env, configure_logging=False)


def check_resources(sweep: Sweep) -> None:
    """Fail before anything runs when no node could ever host one trial (no trials PENDING forever)."""
    import ray

    total = ray.cluster_resources()
    gpus, cpus = total.get("GPU", 0.0), total.get("CPU", 0.0)
    if sweep.resources.gpu > 0 and gpus == 0:
        raise ResourceError(
            f"{sweep.path}: each trial asks for {sweep.resources.gpu} GPU but the Ray cluster has no GPU. "
            f"Run with --set-resources gpu=0 (or `resources: {{gpu: 0}}` in the sweep / its scale override), "
            f"or point --address at a cluster with GPUs."
        )
    if sweep.resources.gpu > gpus:
        raise ResourceError(f"{sweep.path}: each trial asks for {sweep.resources.gpu} GPUs; the cluster has {gpus:g}. "
                            f"Lower resources.gpu or use a larger cluster.")
    if sweep.resources.cpu > cpus:
        raise ResourceError(f"{sweep.path}: each trial asks for {sweep.resources.cpu:g} CPUs; the cluster has {cpus:g}. "
                            f"Lower resources.cpu (e.g. --set-resources cpu=1) or use a larger cluster.")


def _varying(trials: list[Trial]) -> list[str]:
    if not trials:
        return []
    keys = trials[0].params.keys()
    return [k for k in keys if len({json.dumps(t.params[k], default=str) for t in trials}) > 1]


def run_sweep(sweep: Sweep, *, resume: bool = False, tracking_uri: str | None = None,
              storage_path: str | Path | None = None, address: str | None = None,
              skip_finished: bool = False, verbose: int = 1, num_cpus: int | None = None) -> LaunchResult:
    """Run (or resume) every trial of ``sweep`` on Ray Tune, recording each in MLflow."""
    from ray import tune
    from ray.tune import CheckpointConfig, FailureConfig, RunConfig, TuneConfig, Tuner

    wl = get_workload(sweep.workload)
    uri = resolve_tracking_uri(tracking_uri)
    recorder = Recorder(uri, sweep.name)
    storage = resolve_storage(storage_path)

    trials = sweep.trials()
    n_total = len(trials) if not sweep.search else sweep.search.num_samples
    skipped = 0
    if skip_finished and not resume:
        done = recorder.finished_hashes(sweep.scale)
        if sweep.search:
            skipped = min(len(done), n_total)
            n_total -= skipped
        else:
            keep = [t for t in trials if t.config_hash not in done]
            skipped = len(trials) - len(keep)
            trials = keep
            n_total = len(trials)
        if n_total == 0:
            return LaunchResult(sweep.name, None, 0, skipped, 0)

    plan = TrialPlan(workload=sweep.workload, workload_module=wl.fn.__module__, scale=sweep.scale,
                     base_params=dict(sweep.params), searched=list(sweep.search.space) if sweep.search else [],
                     data_root=os.environ.get("ORCHESTRATOR_DATA"), cache_dir=os.environ.get("ORCHESTRATOR_CACHE"))
    varying = _varying(trials)

    ensure_ray(address, num_cpus=num_cpus)
    check_resources(sweep)
    check_reachable(storage, alive_nodes())
    trainable = tune.with_resources(tune.with_parameters(run_trial, plan=plan),
                                    {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu})

    if resume:
        state = read_pointer(storage, sweep.name, sweep.scale)
        if state is None:
            raise SweepError(f"nothing to resume for sweep {sweep.name!r} at scale {sweep.scale!r}: no earlier launch "
                             f"under {storage}. Run it without --resume first (or pass the --storage-path it used).")
        parent_id = state["parent_run_id"]
        recorder.reopen_parent(parent_id)
        callback = _make_callback(recorder, parent_id, sweep, plan, varying)
        tuner = Tuner.restore(state["path"], trainable=trainable, resume_unfinished=True, resume_errored=False,
                              restart_errored=False, param_space=None)
        # Restored Tuners keep their original RunConfig; attach our callback to the restored controller.
        tuner._local_tuner._run_config.callbacks = [callback]
        run_dir = state["path"]
    else:
        run_name = f"{sweep.name}-{sweep.scale}-{time.strftime('%Y%m%d-%H%M%S')}"
        parent_id = recorder.start_parent(sweep, run_name, n_total)
        callback = _make_callback(recorder, parent_id, sweep, plan, varying)
        run_dir = join(storage, run_name)
        write_pointer(storage, sweep.name, sweep.scale, {"path": run_dir, "parent_run_id": parent_id, "tracking_uri": uri})
        tuner = Tuner(trainable, param_space=_param_space(sweep, trials),
                      tune_config=_tune_config(sweep, n_total),
                      run_config=RunConfig(name=run_name, storage_path=storage, callbacks=[callback],
                                           failure_config=FailureConfig(max_failures=sweep.max_failures),
                                           checkpoint_config=CheckpointConfig(num_to_keep=2),
                                           verbose=verbose))
    grid = tuner.fit()
    rows, n_failed = _summarise(grid, plan, varying)
    recorder.end_parent(parent_id, n_failed)
    return LaunchResult(sweep.name, parent_id, len(rows), skipped, n_failed, run_dir, rows)


def _param_space(sweep: Sweep, trials: list[Trial]) -> dict[str, Any]:
    from ray import tune

    if not sweep.search:
        return {"trial": tune.grid_search([{**t.params, "seed": t.seed} for t in trials])}
    space: dict[str, Any] = {}
    for key, dist in sweep.search.space.items():
        kind = dist.kind
        if kind == "uniform":
            space[key] = tune.uniform(*dist.uniform)
        elif kind == "loguniform":
            space[key] = tune.loguniform(*dist.loguniform)
        elif kind == "integer":
            space[key] = tune.randint(dist.integer[0], dist.integer[1] + 1)
        else:
            space[key] = tune.choice(list(dist.choice))
    # Grid values and seeds become categorical dimensions of the Optuna space.
    for key, values in sweep.grid.items():
        space[f"grid.{key}"] = tune.choice(list(values)) if len(values) > 1 else values[0]
    space["seed"] = tune.choice(list(sweep.seeds)) if len(sweep.seeds) > 1 else sweep.seeds[0]
    return space


def _tune_config(sweep: Sweep, n_total: int):
    from ray.tune import TuneConfig

    kwargs: dict[str, Any] = {}
    if sweep.search:
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        class SummaryOptunaSearch(OptunaSearch):
            """Searched metrics are often summary metrics that only the final result carries."""

            def on_trial_result(self, trial_id, result):
                if self.metric in result:
                    super().on_trial_result(trial_id, result)

        algo = SummaryOptunaSearch(metric=sweep.search.metric, mode=sweep.search.mode, seed=sweep.seeds[0])
        limit = sweep.search.max_concurrent or sweep.max_concurrent
        if limit:
            algo = ConcurrencyLimiter(algo, max_concurrent=limit)
        kwargs.update(search_alg=algo, num_samples=n_total)
    else:
        kwargs.update(num_samples=1, max_concurrent_trials=sweep.max_concurrent)
    kwargs["trial_dirname_creator"] = _trial_dirname
    # Trials of one sweep share their resource request, so an actor can run the next trial: that saves the
    # 3-5 s of process start and torch/torchvision imports per trial (~20 s of a 6-trial quickstart table
    # on 2 cores). Every trial still gets a fresh Context (seeds, work dir, checkpoint); a failed trial's
    # actor is never reused.
    kwargs["reuse_actors"] = True
    if sweep.scheduler:
        from ray.tune.schedulers import ASHAScheduler

        a = sweep.scheduler.asha
        kwargs["scheduler"] = ASHAScheduler(metric=a.metric, mode=a.mode, grace_period=a.grace_period,
                                           reduction_factor=a.reduction_factor, max_t=a.max_t,
                                           time_attr="training_iteration")
    return TuneConfig(**kwargs)


def _trial_dirname(trial) -> str:
    return trial.trial_id


def _summarise(grid, plan: TrialPlan, varying: list[str]) -> tuple[list[dict[str, Any]], int]:
    rows, n_failed = [], 0
    for result in grid:
        status = "ERROR" if result.error else "OK"
        n_failed += bool(result.error)
        t = plan.resolve(result.config or {})
        metrics = _numeric(result.metrics or {})
        rows.append({"trial": _trial_label(t, varying), "status": status, **metrics})
    return rows, n_failed
