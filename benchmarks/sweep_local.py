"""Time a sweep: its trials one after another in this process (no Ray, no MLflow), or under Ray Tune (``--ray``)
with several concurrency / resource settings side by side, in one Ray session.

Local mode is used for the workloads' quickstart budgets (a headline table at mini within 2 minutes on 2 CPU cores)
and mini-scale evidence (``--seeds 0,1,2`` replaces the sweep's seeds). One JSON line per trial, then the total.

Ray mode (issue 18.3/18.4): one warm-up launch of the first trial (Ray's worker pool, imports, the workload's cached
source models), then one launch per ``--runs`` setting (``max_concurrent=N``, ``cpu=N``, ``gpu=F`` or ``gpu=auto``,
comma-joined), each recorded in its own MLflow experiment. Per setting it prints the whole launch's wall time and the
first-trial-start to last-trial-end span read from the MLflow runs, trials/min over that span, and the speed-up
over the first setting. Kernel launches / host syncs: n/a here (whole trials; the per-workload benchmarks count them).

    python benchmarks/sweep_local.py sweeps/cmsf/table2_1.yaml --scale mini
    python benchmarks/sweep_local.py sweeps/cmsf/table2_1.yaml --scale mini --seeds 0,1,2 --keys nn1,nn20,linear
    python benchmarks/sweep_local.py sweeps/palm/table1.yaml --scale smoke --ray --seeds 0,1,2,3 \\
        --set method=cotta --runs max_concurrent=1 max_concurrent=8          # CPU: 8 at once vs one at a time
    python benchmarks/sweep_local.py sweeps/palm/table1.yaml --scale smoke --ray --runs gpu=1,cpu=2 gpu=0.25,cpu=2
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload
from orchestrator.spec import Sweep, apply_resource_overrides, load_sweep, parse_set

NO_COUNTS = "n/a (whole trials: see the per-workload benchmarks)"


def run_local(sweep: Sweep, args, work: Path) -> None:
    wl = get_workload(sweep.workload)
    cache = Path(args.cache_dir) if args.cache_dir else work / "cache"
    keys = [k for k in args.keys.split(",") if k]
    t0 = time.perf_counter()
    trials = sweep.trials()
    for i, trial in enumerate(trials):
        t = time.perf_counter()
        ctx = LocalContext(seed=trial.seed, scale=args.scale, work_dir=work / f"trial{i}", cache_dir=cache)
        wl.fn(build_config(wl, trial.params), ctx)
        grid = {k: trial.params[k] for k in sweep.grid}
        shown = {k: round(v, 4) for k, v in ctx.summaries.items() if not keys or k in keys}
        print(json.dumps({"trial": grid, "seed": trial.seed, "seconds": round(time.perf_counter() - t, 2), **shown},
                         default=str), flush=True)
    print(json.dumps({"sweep": sweep.name, "scale": args.scale, "trials": len(trials),
                      "total_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads(),
                      "work_dir": str(work)}), flush=True)


def with_setting(sweep: Sweep, setting: str, name: str) -> Sweep:
    """A copy of ``sweep`` named ``name`` with ``max_concurrent=N`` / ``cpu=N`` / ``gpu=F|auto`` applied."""
    out = dataclasses.replace(sweep, name=name, resources=sweep.resources.model_copy())
    items = [s for s in setting.split(",") if s]
    for item in [s for s in items if s.startswith("max_concurrent=")]:
        out.max_concurrent = int(item.partition("=")[2])
    apply_resource_overrides(out, [s for s in items if not s.startswith("max_concurrent=")])
    return out


def trial_span(uri: str, experiment: str) -> tuple[int, float, float]:
    """(finished trials, seconds from the first trial's start to the last one's end, mean trial seconds)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = [r for r in client.search_runs([exp.experiment_id], max_results=10_000)
            if r.data.tags.get("orchestrator.role") == "trial" and r.info.status == "FINISHED"]
    if not runs:
        return 0, float("nan"), float("nan")
    start = min(r.info.start_time for r in runs)
    end = max(r.info.end_time for r in runs)
    mean = sum(r.info.end_time - r.info.start_time for r in runs) / len(runs)
    return len(runs), (end - start) / 1e3, mean / 1e3


def run_ray(sweep: Sweep, args, work: Path) -> None:
    from orchestrator.launch import ensure_ray, run_sweep

    os.environ.setdefault("ORCHESTRATOR_CACHE", str(Path(args.cache_dir) if args.cache_dir else work / "cache"))
    uri = f"sqlite:///{work / 'mlruns.db'}"
    t = time.perf_counter()
    ensure_ray(num_cpus=args.num_cpus)
    ray_start = time.perf_counter() - t
    first = sweep.trials()[0]
    warm = dataclasses.replace(sweep, name=f"{sweep.name}-warmup", seeds=[first.seed],
                               grid={k: [first.params[k]] for k in sweep.grid}, resources=sweep.resources.model_copy())
    t = time.perf_counter()
    run_sweep(warm, tracking_uri=uri, storage_path=work / "ray", verbose=0)
    print(json.dumps({"warmup_s": round(time.perf_counter() - t, 1), "ray_start_s": round(ray_start, 1),
                      "cpus": os.cpu_count(), "gpus": torch.cuda.device_count()}), flush=True)
    base = None
    for i, setting in enumerate(args.runs):
        s = with_setting(sweep, setting, f"{sweep.name}-run{i}")
        t = time.perf_counter()
        result = run_sweep(s, tracking_uri=uri, storage_path=work / "ray", verbose=0)
        wall = time.perf_counter() - t
        n, span, mean = trial_span(uri, s.name)
        row = {"sweep": sweep.name, "scale": args.scale, "setting": setting,
               "resources": {"cpu": s.resources.cpu, "gpu": s.resources.gpu}, "max_concurrent": s.max_concurrent,
               "trials": len(s.trials()), "finished": n, "failed": result.n_failed, "launch_wall_s": round(wall, 1),
               "first_to_last_trial_s": round(span, 1), "mean_trial_s": round(mean, 2),
               "trials_per_min": round(60 * n / span, 2), "trials_per_min_whole_launch": round(60 * n / wall, 2),
               "kernel_launches": NO_COUNTS, "host_syncs": NO_COUNTS}
        if base is None:
            base = row
        else:
            row["speedup_first_to_last"] = round(base["first_to_last_trial_s"] / span, 2)
            row["speedup_whole_launch"] = round(base["launch_wall_s"] / wall, 2)
        print(json.dumps(row, default=str), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep")
    ap.add_argument("--scale", default="mini")
    ap.add_argument("--seeds", default="", help="comma-separated seeds replacing the sweep's (evidence runs)")
    ap.add_argument("--set", action="append", default=[], help="key=value pinning a parameter (removes its grid axis)")
    ap.add_argument("--cache-dir", default=None, help="default: a fresh temporary folder (models trained from scratch)")
    ap.add_argument("--keys", default="", help="comma-separated summary keys to print (default: all)")
    ap.add_argument("--ray", action="store_true", help="run under Ray Tune, once per --runs setting")
    ap.add_argument("--runs", nargs="+", default=["max_concurrent=1", "max_concurrent=8"],
                    help="Ray settings compared side by side, e.g. max_concurrent=1 gpu=0.25,cpu=2 gpu=auto")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the private Ray (default: all)")
    args = ap.parse_args()
    sweep = load_sweep(args.sweep, args.scale, sets=parse_set(args.set) or None)
    if args.seeds:
        sweep.seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(tempfile.mkdtemp(prefix=f"{sweep.name}-bench-"))
    (run_ray if args.ray else run_local)(sweep, args, work)


if __name__ == "__main__":
    main()
