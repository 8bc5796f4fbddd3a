"""``orchestrator run --local``: trials one after another in this process, recorded in MLflow like Ray runs."""
from __future__ import annotations

import tempfile
import time
import traceback
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from orchestrator.context import LocalContext, device_label, resolved_config
from orchestrator.launch import LaunchResult
from orchestrator.progress import LocalProgress
from orchestrator.registry import build_config, get_workload
from orchestrator.run_names import trial_run_name, varying_keys
from orchestrator.spec import Sweep, SweepError
from orchestrator.system_metrics import GPU_METRICS_TAG, SystemSampler
from orchestrator.interrupts import closes_on_interrupt
from orchestrator.store_preflight import open_recorder
from orchestrator.tracking import resolve_tracking_uri


@contextmanager
def torch_threads(n_cpus: float) -> Iterator[int]:
    """Limit torch's intra-op threads to the trial's ``resources.cpu`` (as Ray does for its workers), so a
    local trial measures the same per-trial speed and does not take every core of a shared machine."""
    import torch

    before = torch.get_num_threads()
    n = max(1, int(n_cpus))
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


@closes_on_interrupt  # Ctrl-C / SIGTERM: unfinished runs end KILLED (orchestrator.interrupts)
def run_local(sweep: Sweep, *, tracking_uri: str | None = None, work_root: str | Path | None = None,
              system_interval_s: float = 10.0) -> LaunchResult:
    if sweep.search:
        raise SweepError(f"{sweep.path}: an Optuna search needs Ray Tune; run it without --local")
    wl = get_workload(sweep.workload)
    recorder = open_recorder(resolve_tracking_uri(tracking_uri), sweep.name)  # preflight; schema under a lock
    trials = sweep.trials()
    varying = varying_keys(t.params for t in trials)
    parent = recorder.start_parent(sweep, f"{sweep.name}-{sweep.scale}-local-{time.strftime('%Y%m%d-%H%M%S')}",
                                   len(trials))
    root = Path(work_root) if work_root else Path(tempfile.mkdtemp(prefix=f"{sweep.name}-"))
    rows, n_failed = [], 0
    with LocalProgress(sweep.name, len(trials)) as bar, torch_threads(sweep.resources.cpu):
        for i, trial in enumerate(trials):
            key = f"local-{uuid.uuid4().hex[:8]}-{i:05d}"
            name = trial_run_name(trial.params, trial.seed, varying, sweep.workload)
            rid = recorder.start_trial(parent, key, sweep, trial.params, trial.seed, trial.config_hash, run_name=name)

            def sink(kind, payload, rid=rid):
                if kind == "report":
                    recorder.log_stream(rid, payload[1], step=payload[0])
                elif kind == "artifact":
                    recorder.log_artifact(rid, payload)
                elif kind == "config":
                    recorder.log_config(rid, payload)
                # summaries are logged once, when the trial has ended (a workload may call summary() often)

            ctx = LocalContext(seed=trial.seed, scale=sweep.scale, work_dir=root / key, sink=sink)
            ctx.system_sampler = SystemSampler(ctx.device, system_interval_s)
            ctx.on_progress = bar.trial_started(name)
            recorder.client.set_tag(rid, "orchestrator.device", device_label(ctx.device))
            if ctx.system_sampler.gpu_note:  # "nvml", or why GPU utilisation is not sampled
                recorder.client.set_tag(rid, GPU_METRICS_TAG, ctx.system_sampler.gpu_note)
            cfg = build_config(wl, trial.params, where=f"{sweep.path}: trial {i}")
            try:
                ctx.record_config(resolved_config(cfg, ctx))  # MLflow params = the values that run
                wl.fn(cfg, ctx)
                ctx.deliver_config()  # a workload that recorded nothing still gets its params
            except Exception:
                ctx.deliver_config()
                n_failed += 1
                recorder.end_trial(rid, "FAILED", traceback.format_exc())
                rows.append({"trial": name, "status": "ERROR"})
                bar.trial_ended(name, "FAILED", {})
                continue
            recorder.log_summary(rid, ctx.summaries)
            recorder.end_trial(rid, "FINISHED")
            rows.append({"trial": name, "status": "OK", **ctx.summaries})
            bar.trial_ended(name, "done", ctx.summaries)
    recorder.end_parent(parent, n_failed)
    return LaunchResult(sweep.name, parent, len(trials), 0, n_failed, str(root), rows)
