"""Launch, resume and record a sweep with Ray Tune; the only module that drives ``ray.tune``."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.artifacts import TrialOutputs
from orchestrator.cleanup import mark_launch
from orchestrator.context import default_data_root  # resolved here: a Ray worker's cwd is its trial folder
from orchestrator.gpu_packing import resolve_auto_gpu
from orchestrator.interrupts import SweepInterrupted, pause_point, reinstall_sigterm, sigterm_as_sigint
from orchestrator.launch_state import (CHECKPOINT_TAG, DRIVER_TAG, INTERRUPTED_TAG, SAMPLE_TAG, ResumeError,
                                       checkpoint_uri, driver_identity, find_resumable, read_plan, resume_command,
                                       settle_dead_launch)
from orchestrator.ray_context import CONFIG, DEVICE, GPU_NOTE, KEYS, KIND, STEP, TRACEBACK, TrialPlan
from orchestrator.optuna_study import continue_study, study_kwargs
from orchestrator.progress import progress_callbacks
from orchestrator.ray_trainable import trial_trainable
from orchestrator.registry import get_workload
from orchestrator.run_names import trial_run_name
from orchestrator.ray_sessions import LOOPBACK_ENV, reap_orphans, record_session
from orchestrator.spec import Sweep, SweepError, Trial
from orchestrator.store_preflight import open_recorder
from orchestrator.storage import alive_nodes, check_reachable, join, resolve_storage, write_pointer
from orchestrator.system_metrics import GPU_METRICS_TAG
from orchestrator.tracking import TRIAL_ID_TAG, Recorder, resolve_tracking_uri

os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
# Trial folders stay lean: MLflow is the record, so Tune's TensorBoard/CSV/JSON result loggers (and the
# files they leave in every trial folder, ~7 per trial) are off.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

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


def _make_callback(recorder: Recorder, parent_id: str, sweep: Sweep, plan: TrialPlan, varying: list[str],
                   reusable: dict[str, str] | None = None, storage: str = ""):
    """``reusable``: config hash -> the MLflow run an interrupted launch left for that grid point (``--resume``
    runs the point again in that run: one run per grid point and launch, never a duplicate)."""
    from ray.tune import Callback

    class MlflowCallback(Callback):
        """Driver-side MLflow writer: child run per Tune trial, reused across retries and resumes.

        A run ends FINISHED only when the trial's final event (its summary) arrived, or when the scheduler
        stopped it after it reported (ASHA); a trial still going when the launch stops (Ctrl-C, SIGTERM)
        ends KILLED, so ``--resume`` runs it again and the tables never read a half-run trial."""

        def __init__(self) -> None:
            self.runs: dict[str, str] = {}
            self.tracebacks: dict[str, str] = {}
            self.last: dict[str, dict[str, Any]] = {}
            self.outputs = TrialOutputs(recorder)
            self.reusable = dict(reusable or {})
            self.n_finished = 0
            self.n_failed = 0
            self.n_killed = 0

        def __reduce__(self):
            # Tune pickles the RunConfig into its experiment state; the live MLflow client stays behind
            # and `--resume` attaches a fresh callback.
            return (_NullCallback, ())

        def _run_for(self, trial) -> str:
            if trial.trial_id not in self.runs:
                t = plan.resolve(trial.config)
                earlier = self.reusable.pop(t.config_hash, None)
                if earlier is not None:
                    recorder.client.set_tag(earlier, TRIAL_ID_TAG, trial.trial_id)
                    recorder.client.set_tag(earlier, "orchestrator.resumed", "true")
                    self.runs[trial.trial_id] = earlier
                    return earlier
                rid = recorder.start_trial(
                    parent_id, trial.trial_id, sweep, t.params, t.seed, t.config_hash,
                    run_name=trial_run_name(t.params, t.seed, [*varying, *plan.searched], sweep.workload))
                if plan.searched:
                    recorder.client.set_tag(rid, SAMPLE_TAG, json.dumps(_search_point(sweep, trial.config), default=str))
                self.runs[trial.trial_id] = rid
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
            if result.get(GPU_NOTE) and result[GPU_NOTE] != self.last.get(trial.trial_id, {}).get(GPU_NOTE):
                recorder.client.set_tag(rid, GPU_METRICS_TAG, str(result[GPU_NOTE]))  # "nvml", or why not sampled
            self.last[trial.trial_id] = result
            if result.get(CONFIG):  # the trial's resolved config, on its first event (Context.record_config)
                recorder.log_config(rid, json.loads(result[CONFIG]))
            if kind == "report":
                recorder.log_stream(rid, _numeric(result, only_event=True), step=int(result.get(STEP, 0)))
            elif kind == "final":
                recorder.log_summary(rid, _numeric(result, only_event=True))
            elif kind == "error":
                self.tracebacks[trial.trial_id] = str(result.get(TRACEBACK, ""))
            self.outputs.on_result(rid, result, trial.storage.storage_filesystem)

        def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
            # Recorded as it happens, so a driver killed mid-trial leaves `--resume` the place to continue from.
            uri = checkpoint_uri(storage, trial.storage.storage_fs_path, checkpoint.path)
            recorder.client.set_tag(self._run_for(trial), CHECKPOINT_TAG, uri)

        def on_trial_complete(self, iteration, trials, trial, **info):
            rid = self._run_for(trial)
            last = self.last.get(trial.trial_id)
            self.outputs.on_trial_end(rid, trial)
            if last is None:
                # Removed before it reported anything (never a finished trial).
                self._kill(rid, "stopped before its first report")
                return
            if last.get(KIND) != "final":
                # Stopped by the scheduler (ASHA) before the workload wrote its summary.
                recorder.client.set_tag(rid, "stopped_early", "true")
            self.n_finished += 1
            recorder.end_trial(rid, "FINISHED")

        def _kill(self, rid: str, why: str) -> None:
            self.n_killed += 1
            recorder.client.set_tag(rid, INTERRUPTED_TAG, why)
            recorder.end_trial(rid, "KILLED")

        def on_trial_error(self, iteration, trials, trial, **info):
            tb = self.tracebacks.get(trial.trial_id) or _read_error(trial)
            self.outputs.on_trial_end(self._run_for(trial), trial)
            self.n_failed += 1
            recorder.end_trial(self._run_for(trial), "FAILED", tb or "trial failed without a traceback")

        def on_experiment_end(self, trials, **info):
            # Tune marks the trials it stops at Ctrl-C TERMINATED; only our own events say whether one finished.
            for trial in trials:
                if trial.trial_id not in self.runs:
                    continue
                rid = self.runs[trial.trial_id]
                if recorder.run_status(rid) != "RUNNING":
                    continue
                if self.last.get(trial.trial_id, {}).get(KIND) == "final":
                    self.n_finished += 1
                    recorder.end_trial(rid, "FINISHED")
                elif trial.status == "ERROR":
                    self.n_failed += 1
                    recorder.end_trial(rid, "FAILED", _read_error(trial) or "trial failed")
                else:
                    self._kill(rid, "the launch was interrupted before the trial finished")

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
    """Connect to ``address``/``RAY_ADDRESS`` or start a private local Ray (never an unrelated one).

    The private Ray listens on 127.0.0.1 only, and its processes are recorded (``orchestrator.ray_sessions``)
    so that a driver killed with SIGKILL leaves nothing behind once the next launch or ``orchestrator clean``
    runs; that cleanup of dead drivers' clusters happens here, before a new one starts."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        # Read by Ray when it is imported: a private cluster's servers then bind the loopback interface only.
        os.environ.setdefault(LOOPBACK_ENV, "0")
    import ray

    if ray.is_initialized():
        return
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(Path.cwd())]))}}
    if address:
        ray.init(address=address, log_to_driver=True)
        return
    info = ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=True,
                    runtime_env=env, configure_logging=False,
                    _system_config=dict(PRIVATE_RAY_CONFIG))  # a copy: ray.init writes this session's spill dir into it
    record_session(str(info.address_info.get("session_dir", "")))


# Ray starts one idle worker per CPU as the first driver connects, for plain tasks. A Tune trial never runs in
# one: Tune schedules its trainable actors in placement groups with a runtime env of their own (`env_vars`), and
# Ray starts a fresh worker for such an actor (checked with Ray 2.60: the trial's actor is always a new process,
# the prestarted ones stay idle to the end). So they were one Python process per CPU importing Ray beside the
# driver's start and the first trial's worker, for nothing (16 on a 16-CPU node; on 2 cores their CPU time is
# taken from the driver). The one plain task we run, the `gpu: auto` memory probe (once per sweep without a
# measured peak), now starts its worker itself. Only set for the private Ray this driver starts; a cluster
# (`--address`) keeps its operator's settings.
PRIVATE_RAY_CONFIG = {"prestart_worker_first_driver": False}


def check_resources(sweep: Sweep) -> None:
    """Fail before anything runs when no node could ever host one trial (no trials PENDING forever).

    A trial runs on one node, so it is compared with the largest alive node, not with the cluster's total
    (a 3-CPU trial on nodes of 2 + 1 CPUs would wait forever)."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")] or [ray.cluster_resources()]
    gpus = max(n.get("GPU", 0.0) for n in nodes)
    cpus = max(n.get("CPU", 0.0) for n in nodes)
    where = "the Ray cluster's largest node" if len(nodes) > 1 else "the Ray cluster"
    if sweep.resources.gpu > 0 and gpus == 0:
        raise ResourceError(
            f"{sweep.path}: each trial asks for {sweep.resources.gpu:g} GPU but {where} has no GPU. "
            f"Run with --set-resources gpu=0 (or `resources: {{gpu: 0}}` in the sweep / its scale override), "
            f"or point --address at a cluster with GPUs."
        )
    if sweep.resources.gpu > gpus:
        raise ResourceError(f"{sweep.path}: each trial asks for {sweep.resources.gpu:g} GPUs; {where} has {gpus:g}. "
                            f"Lower resources.gpu (e.g. --set-resources gpu={gpus:g}) or use a larger node.")
    if sweep.resources.cpu > cpus:
        raise ResourceError(f"{sweep.path}: each trial asks for {sweep.resources.cpu:g} CPUs; {where} has "
                            f"{cpus:g}. Lower resources.cpu (e.g. --set-resources cpu={max(cpus, 1):g}) or use a "
                            f"larger node.")
    want_cpu, want_gpu = sweep.resources.cpu, sweep.resources.gpu
    if not any(n.get("CPU", 0.0) >= want_cpu and n.get("GPU", 0.0) >= want_gpu for n in nodes):
        shapes = ", ".join(f"{n.get('CPU', 0.0):g} CPU + {n.get('GPU', 0.0):g} GPU" for n in nodes)
        raise ResourceError(f"{sweep.path}: each trial asks for {want_cpu:g} CPUs and {want_gpu:g} GPUs on one node; "
                            f"no node has both (nodes: {shapes}). Lower resources.cpu or resources.gpu "
                            f"(--set-resources), or add a node that has both.")


def _varying(trials: list[Trial]) -> list[str]:
    if not trials:
        return []
    keys = trials[0].params.keys()
    return [k for k in keys if len({json.dumps(t.params[k], default=str) for t in trials}) > 1]


def run_sweep(sweep: Sweep, *, resume: bool = False, tracking_uri: str | None = None,
              storage_path: str | Path | None = None, address: str | None = None,
              skip_finished: bool = False, verbose: int = 1, num_cpus: int | None = None) -> LaunchResult:
    """Run (or resume) every trial of ``sweep`` on Ray Tune, recording each in MLflow.

    ``resume`` continues the sweep's last interrupted launch from its MLflow record (``launch_state``):
    FINISHED grid points are never run again, the others run in their earlier runs, an Optuna search draws
    only the samples still missing (warm-started with the finished ones). Ctrl-C / SIGTERM end the trials
    still going KILLED and raise ``SweepInterrupted`` naming the resume command."""
    wl = get_workload(sweep.workload)
    uri = resolve_tracking_uri(tracking_uri)
    reap_orphans()  # Ray processes of drivers killed earlier (only those; live drivers' clusters are kept)
    recorder = open_recorder(uri, sweep.name)  # one-paragraph error within seconds if the store is unusable
    # Trial folders carry no result.json (loggers off); Tune's result grid would warn once per trial.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    # After Ctrl-C Tune suggests `Tuner.restore(...)`; ours is `orchestrator run ... --resume` (printed below).
    logging.getLogger("ray.tune.tune").addFilter(_no_tuner_restore_hint)
    client, exp_id = recorder.client, recorder.experiment_id
    storage = resolve_storage(storage_path)
    if not resume:
        settle_dead_launch(client, exp_id, sweep.scale)

    trials = sweep.trials()
    n_total = len(trials) if not sweep.search else sweep.search.num_samples
    skipped = 0
    prior = None
    if resume:
        try:
            parent = find_resumable(client, exp_id, sweep.name, sweep.scale)
        except ResumeError as exc:
            raise SweepError(str(exc)) from None
        prior = read_plan(client, exp_id, parent.info.run_id, sweep.search.metric if sweep.search else None)
        if sweep.search:
            skipped = min(n_total, prior.n_finished + prior.n_failed)
            n_total -= skipped
        else:
            keep = [t for t in trials if t.config_hash not in prior.done_hashes | prior.failed_hashes]
            skipped, trials, n_total = len(trials) - len(keep), keep, len(keep)
    elif skip_finished:
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

    plan = TrialPlan(workload=sweep.workload, workload_module=wl.module, scale=sweep.scale,
                     base_params=dict(sweep.params), searched=list(sweep.search.space) if sweep.search else [],
                     data_root=str(default_data_root()), cache_dir=os.environ.get("ORCHESTRATOR_CACHE"),
                     resume_checkpoints=dict(prior.checkpoints) if prior else {})
    varying = _varying(sweep.trials() if resume else trials)
    again = resume_command(sweep, tracking_uri, storage_path)

    if prior is not None:
        parent_id = prior.parent_id
        recorder.reopen_parent(parent_id)
        client.set_tag(parent_id, DRIVER_TAG, driver_identity())
        if n_total == 0:  # killed after its last trial finished, before the parent run was closed
            recorder.end_parent(parent_id, prior.n_failed)
            return LaunchResult(sweep.name, parent_id, 0, skipped, prior.n_failed)
        run_name = f"{sweep.name}-{sweep.scale}-{time.strftime('%Y%m%d-%H%M%S')}-resume"
    else:
        run_name = f"{sweep.name}-{sweep.scale}-{time.strftime('%Y%m%d-%H%M%S')}"
        parent_id = recorder.start_parent(sweep, run_name, n_total)
        client.set_tag(parent_id, DRIVER_TAG, driver_identity())
    run_dir = join(storage, run_name)
    callback = None
    try:
        with sigterm_as_sigint():
            pause_point("before_trials")
            ensure_ray(address, num_cpus=num_cpus)
            reinstall_sigterm()  # Ray's core just replaced it with a handler that aborts the driver
            packing = resolve_auto_gpu(sweep, client, exp_id, workload_module=plan.workload_module,
                                       data_root=plan.data_root, cache_dir=plan.cache_dir)  # gpu: auto -> a number
            for key, value in (packing.tags() if packing else {}).items():
                client.set_tag(parent_id, key, value)  # the next launch of this sweep reuses the measured peak
            check_resources(sweep)
            check_reachable(storage, alive_nodes())
            from ray import tune
            from ray.tune import CheckpointConfig, FailureConfig, RunConfig, Tuner

            trainable = tune.with_resources(tune.with_parameters(trial_trainable, plan=plan),
                                            {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu})
            callback = _make_callback(recorder, parent_id, sweep, plan, varying, prior.reusable if prior else None,
                                      storage=storage)
            write_pointer(storage, sweep.name, sweep.scale, {"path": run_dir, "parent_run_id": parent_id,
                                                             "tracking_uri": uri})
            mark_launch(run_dir, driver=driver_identity(), parent_run_id=parent_id)  # for `orchestrator clean`
            warm = (prior.warm_points, prior.warm_rewards) if prior and sweep.search else None
            tuner = Tuner(trainable, param_space=_param_space(sweep, trials),
                          tune_config=_tune_config(sweep, n_total, warm, study=study_kwargs(sweep, uri)),
                          run_config=RunConfig(name=run_name, storage_path=storage,
                                               callbacks=[callback, *_progress_callbacks(plan, varying, sweep.workload)],
                                               failure_config=FailureConfig(max_failures=sweep.max_failures),
                                               checkpoint_config=CheckpointConfig(num_to_keep=1),
                                               verbose=verbose))
            grid = tuner.fit()
            pause_point("before_parent_end")
    except KeyboardInterrupt:
        _interrupt(recorder, parent_id, exp_id)
        _mark_end(run_dir, callback, "KILLED")
        raise SweepInterrupted(_interrupted_message(sweep, again)) from None
    except SweepError:
        # Refused before any trial ran (resources, storage). A resumed launch stays resumable once that is fixed.
        _interrupt(recorder, parent_id, exp_id, why="refused before any trial ran",
                   status="KILLED" if prior is not None else "FAILED")
        raise
    except BaseException:
        _interrupt(recorder, parent_id, exp_id, why="the launch failed")
        _mark_end(run_dir, callback, "FAILED")
        raise
    if callback.n_finished + callback.n_failed < n_total:
        # Tune returns normally after its first Ctrl-C; the trials it stopped were closed KILLED above.
        _interrupt(recorder, parent_id, exp_id)
        _mark_end(run_dir, callback, "KILLED")
        raise SweepInterrupted(_interrupted_message(sweep, again))
    _mark_end(run_dir, callback, "ENDED")
    rows, _ = _summarise(grid, plan, varying)
    n_failed = callback.n_failed + (prior.n_failed if prior else 0)
    recorder.end_parent(parent_id, n_failed)
    return LaunchResult(sweep.name, parent_id, len(rows), skipped, n_failed, run_dir, rows)


def _interrupt(recorder: Recorder, parent_id: str, exp_id: str, why: str = "interrupted (Ctrl-C or SIGTERM)",
               status: str = "KILLED") -> None:
    """Close a launch that stops early: running trials end KILLED and the parent ``status`` (never FINISHED)."""
    try:
        read_plan(recorder.client, exp_id, parent_id)  # any child still RUNNING becomes KILLED
        recorder.client.set_tag(parent_id, INTERRUPTED_TAG, why)
        recorder.client.set_terminated(parent_id, status)
    except Exception as exc:  # the store itself failed: the resume command still reaches the user
        print(f"warning: could not close launch {parent_id} in MLflow ({exc})", file=sys.stderr)


def _no_tuner_restore_hint(record: logging.LogRecord) -> bool:
    return "Tuner.restore(" not in record.getMessage()


def _mark_end(run_dir: str, callback, status: str) -> None:
    """The launch's folder says it ended, and whether it holds artifacts MLflow did not get (kept by clean)."""
    if callback is None:
        return
    missing = sum(len(v) for v in callback.outputs.missing.values())
    try:
        mark_launch(run_dir, status=status, missing_artifacts=missing)
    except Exception as exc:  # the storage went away: clean then leaves the folder alone
        print(f"warning: could not mark {run_dir} as ended ({exc})", file=sys.stderr)


def _interrupted_message(sweep: Sweep, again: str) -> str:
    return (f"launch of sweep {sweep.name!r} at scale {sweep.scale!r} interrupted: its unfinished trials are "
            f"marked KILLED and its finished ones are kept. Continue it with:\n  {again}")


def _progress_callbacks(plan: TrialPlan, varying: list[str], workload: str) -> list:
    """One line per trial event, named like the trial's MLflow run (Tune's tables are off by default)."""
    def name_of(trial) -> str:
        t = plan.resolve(trial.config)
        return trial_run_name(t.params, t.seed, [*varying, *plan.searched], workload)

    return progress_callbacks(name_of)


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


def _search_point(sweep: Sweep, config: dict[str, Any]) -> dict[str, Any]:
    """The dimensions Optuna chose for a trial (``_param_space``'s keys that are distributions)."""
    free = set(sweep.search.space if sweep.search else ())
    free |= {f"grid.{k}" for k, v in sweep.grid.items() if len(v) > 1}
    if len(sweep.seeds) > 1:
        free.add("seed")
    return {k: v for k, v in config.items() if k in free}


def _tune_config(sweep: Sweep, n_total: int, warm: tuple[list[dict[str, Any]], list[float]] | None = None,
                 study: dict[str, Any] | None = None):
    """``warm``: the finished samples of the launch being resumed and their searched metric, given to Optuna
    as evaluated points so the continued search is the same search, not a fresh one."""
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

        seed, points, rewards = continue_study(study or {}, sweep.seeds[0],
                                               *(warm if warm and warm[0] else (None, None)))
        algo = SummaryOptunaSearch(metric=sweep.search.metric, mode=sweep.search.mode, seed=seed,
                                   points_to_evaluate=points, evaluated_rewards=rewards,
                                   **(study or {}))  # persistent study: orchestrator.optuna_study
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
