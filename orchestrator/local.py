"""``orchestrator run --local``: trials one after another in this process, recorded in MLflow like Ray runs."""
from __future__ import annotations

import tempfile
import traceback
import uuid
from pathlib import Path

from orchestrator.context import LocalContext, device_label
from orchestrator.launch import LaunchResult, _trial_label, _varying
from orchestrator.registry import build_config, get_workload
from orchestrator.spec import Sweep, SweepError
from orchestrator.tracking import Recorder, resolve_tracking_uri


def run_local(sweep: Sweep, *, tracking_uri: str | None = None, work_root: str | Path | None = None) -> LaunchResult:
    if sweep.search:
        raise SweepError(f"{sweep.path}: an Optuna search needs Ray Tune; run it without --local")
    wl = get_workload(sweep.workload)
    recorder = Recorder(resolve_tracking_uri(tracking_uri), sweep.name)
    trials = sweep.trials()
    varying = _varying(trials)
    parent = recorder.start_parent(sweep, f"{sweep.name}-{sweep.scale}-local", len(trials))
    root = Path(work_root) if work_root else Path(tempfile.mkdtemp(prefix=f"{sweep.name}-"))
    rows, n_failed = [], 0
    for i, trial in enumerate(trials):
        key = f"local-{uuid.uuid4().hex[:8]}-{i:05d}"
        rid = recorder.start_trial(parent, key, sweep, trial.params, trial.seed, trial.config_hash,
                                   run_name=f"{key} {_trial_label(trial, varying)}")

        def sink(kind, payload, rid=rid):
            if kind == "report":
                recorder.log_metrics(rid, payload[1], step=payload[0])
            elif kind == "summary":
                recorder.log_metrics(rid, payload, step=0)
            elif kind == "artifact":
                recorder.log_artifact(rid, payload)

        ctx = LocalContext(seed=trial.seed, scale=sweep.scale, work_dir=root / key, sink=sink)
        recorder.client.set_tag(rid, "orchestrator.device", device_label(ctx.device))
        cfg = build_config(wl, trial.params, where=f"{sweep.path}: trial {i}")
        try:
            wl.fn(cfg, ctx)
        except Exception:
            n_failed += 1
            recorder.end_trial(rid, "FAILED", traceback.format_exc())
            rows.append({"trial": _trial_label(trial, varying), "status": "ERROR"})
            continue
        recorder.end_trial(rid, "FINISHED")
        rows.append({"trial": _trial_label(trial, varying), "status": "OK", **ctx.summaries})
    recorder.end_parent(parent, n_failed)
    return LaunchResult(sweep.name, parent, len(trials), 0, n_failed, str(root), rows)
