"""Time a sweep: its trials one after another in this process (no Ray, no MLflow), or under Ray Tune (``--ray``)
with several concurrency / resource settings side by side, in one Ray session.

Local mode is used for the workloads' quickstart budgets (a headline table at mini within 2 minutes on 2 CPU cores)
and mini-scale evidence (``--seeds 0,1,2`` replaces the sweep's seeds). One JSON line per trial, then the total.

Ray mode (issue 18.3/18.4): one warm-up launch of the first trial (Ray's worker pool, imports, the workload's cached
source models), then one launch per ``--runs`` setting (``max_concurrent=N``, ``cpu=N``, ``gpu=F`` or ``gpu=auto``,
comma-joined), each recorded in its own MLflow experiment. Per setting it prints the whole launch's wall time and the
first-trial-start to last-trial-end span read from the MLflow runs, trials/min over that span, and the speed-up
over the first setting in trials/min (so a shorter ``trials=K`` baseline compares fairly). Kernel launches / host
syncs: n/a here (whole trials; the per-workload benchmarks count them).
Each Ray row also gives what the trials measured themselves (``orchestrator.trial_clock``): their own wall and CPU
time, how long they sat blocked in ``tune.report`` waiting for the driver, split into an actor's first trial and
reused actors' trials, and the driver's CPU seconds per Tune result.

A ``bare=N`` setting (``bare=N,pin``: each process pinned to one CPU, distinct physical cores first) runs the same
trials in N plain processes (no Ray, Tune or MLflow; each takes the next trial when it is done, as Tune does, with
1 torch thread per CPU of ``resources.cpu``), so the host's own slow-down under N concurrent trials is beside the
orchestrator's in one run. ``trials=K`` in any setting keeps the sweep's first K seeds (a shorter one-at-a-time
baseline: its per-trial figures stay comparable); ``flush=S`` sets ``$ORCHESTRATOR_STREAM_FLUSH_S`` for that launch
(``flush=0``: each streamed event written at once, as before the driver batched them). The first line gives the
host's CPU layout (cores, SMT, quota).

    python benchmarks/sweep_local.py sweeps/cmsf/table2_1.yaml --scale mini
    python benchmarks/sweep_local.py sweeps/cmsf/table2_1.yaml --scale mini --seeds 0,1,2 --keys nn1,nn20,linear
    python benchmarks/sweep_local.py sweeps/palm/table1.yaml --scale smoke --ray --seeds 0,1,2,3 \\
        --set method=cotta --runs max_concurrent=1 max_concurrent=8          # CPU: 8 at once vs one at a time
    python benchmarks/sweep_local.py sweeps/palm/table1.yaml --scale smoke --ray --seeds 0,1,2,3 \\
        --set method=cotta --runs bare=1 bare=8 max_concurrent=1 max_concurrent=8   # the host without the orchestrator
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
from orchestrator.stream_buffer import FLUSH_ENV, flush_interval
from orchestrator.trial_clock import TIMES_ENV
from sweep_bare import host_layout, run_bare

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
    """A copy of ``sweep`` named ``name`` with ``max_concurrent=N`` / ``cpu=N`` / ``gpu=F|auto`` applied, and
    ``trials=K``: only its first K seeds (a shorter one-at-a-time baseline; per-trial figures stay comparable)."""
    out = dataclasses.replace(sweep, name=name, resources=sweep.resources.model_copy())
    items = [s for s in setting.split(",") if s and s != "pin" and not s.startswith(("bare=", "flush="))]
    for item in [s for s in items if s.startswith("max_concurrent=")]:
        out.max_concurrent = int(item.partition("=")[2])
    for item in [s for s in items if s.startswith("trials=")]:
        out.seeds = list(sweep.seeds)[:int(item.partition("=")[2])]
    apply_resource_overrides(out, [s for s in items if not s.startswith(("max_concurrent=", "trials="))])
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
    times = work / "trial_times.jsonl"
    # Read by the trials' orchestrator.trial_clock: set before Ray starts, so its workers inherit it.
    os.environ[TIMES_ENV] = str(times)
    t = time.perf_counter()
    ensure_ray(num_cpus=args.num_cpus)
    ray_start = time.perf_counter() - t
    first = sweep.trials()[0]
    warm = dataclasses.replace(sweep, name=f"{sweep.name}-warmup", seeds=[first.seed],
                               grid={k: [first.params[k]] for k in sweep.grid}, resources=sweep.resources.model_copy())
    t = time.perf_counter()
    run_sweep(warm, tracking_uri=uri, storage_path=work / "ray", verbose=0)
    print(json.dumps({"warmup_s": round(time.perf_counter() - t, 1), "ray_start_s": round(ray_start, 1),
                      "cpus": os.cpu_count(), "gpus": torch.cuda.device_count(), "host": host_layout()}), flush=True)
    bases: dict[str, dict] = {}
    for i, setting in enumerate(args.runs):
        if setting.startswith("bare="):
            row = bare_row(sweep, setting, args, work / f"bare{i}")
        else:
            row = ray_row(sweep, setting, f"{sweep.name}-run{i}", args, uri, work, times)
        kind = "bare" if setting.startswith("bare=") else "ray"
        base = bases.setdefault(kind, row)
        if base is not row:
            # trials/min ratios, not span ratios: a one-at-a-time baseline may run fewer trials (``trials=K``)
            span = "first_to_last_trial_s"
            row["speedup_first_to_last"] = round(rate(row, span) / rate(base, span), 2)
            if "launch_wall_s" in row and "launch_wall_s" in base:
                row["speedup_whole_launch"] = round(rate(row, "launch_wall_s") / rate(base, "launch_wall_s"), 2)
            row["trial_slowdown"] = round(row["mean_trial_s"] / base["mean_trial_s"], 2)
            warm, warm0 = reused_wall(row), reused_wall(base)
            if warm and warm0:  # trials past each worker's first: the host's and the driver's share, no imports
                row["reused_trial_slowdown"] = round(warm / warm0, 2)
        print(json.dumps(row, default=str), flush=True)


def rate(row: dict, span_key: str) -> float:
    """Trials per second over ``row[span_key]``."""
    return row["trials"] / row[span_key]


def reused_wall(row: dict) -> float | None:
    """Mean wall time of the trials that ran in an already-warm worker (a reused actor, a bare process's later trials)."""
    if "in_trial" in row:
        return row["in_trial"]["reused_actor"].get("wall_s")
    return row.get("warm_mean_trial_s")


def ray_row(sweep: Sweep, setting: str, name: str, args, uri: str, work: Path, times: Path) -> dict:
    """One Ray Tune launch of ``sweep`` under ``setting``: the driver's view (MLflow) and the trials' own clocks."""
    from orchestrator.launch import run_sweep

    s = with_setting(sweep, setting, name)
    times.unlink(missing_ok=True)
    flush = [i.partition("=")[2] for i in setting.split(",") if i.startswith("flush=")]
    before = os.environ.get(FLUSH_ENV)
    if flush:  # the driver's streamed-metric batching (orchestrator.stream_buffer) for this launch only
        os.environ[FLUSH_ENV] = flush[0]
    t, cpu = time.perf_counter(), time.process_time()
    try:
        result = run_sweep(s, tracking_uri=uri, storage_path=work / "ray", verbose=0)
    finally:
        if before is None:
            os.environ.pop(FLUSH_ENV, None)
        else:
            os.environ[FLUSH_ENV] = before
    wall, driver_cpu = time.perf_counter() - t, time.process_time() - cpu
    n, span, mean = trial_span(uri, s.name)
    clocks = [json.loads(line) for line in times.read_text().splitlines()] if times.is_file() else []
    if args.times_dir and times.is_file():
        Path(args.times_dir, f"{name}.trial_times.jsonl").write_text(times.read_text())
    results = sum(c["reports"] for c in clocks)
    return {"sweep": sweep.name, "scale": args.scale, "setting": setting,
            "resources": {"cpu": s.resources.cpu, "gpu": s.resources.gpu}, "max_concurrent": s.max_concurrent,
            "stream_flush_s": flush_interval() if not flush else float(flush[0]),
            "trials": len(s.trials()), "finished": n, "failed": result.n_failed, "launch_wall_s": round(wall, 1),
            "first_to_last_trial_s": round(span, 1), "mean_trial_s": round(mean, 2),
            "trials_per_min": round(60 * n / span, 2), "trials_per_min_whole_launch": round(60 * n / wall, 2),
            "in_trial": clock_summary(clocks),
            "driver_cpu_s": round(driver_cpu, 2), "results": results,
            "driver_cpu_per_result_ms": round(1e3 * driver_cpu / results, 1) if results else None,
            "kernel_launches": NO_COUNTS, "host_syncs": NO_COUNTS}


def clock_summary(clocks: list[dict]) -> dict:
    """Means of the trials' own clocks, for an actor's first trial (it imports torch and the workload) and the rest."""
    seen: set[int] = set()
    first, reused = [], []
    for c in sorted(clocks, key=lambda c: c["start"]):
        (reused if c["pid"] in seen else first).append(c)
        seen.add(c["pid"])

    def means(group: list[dict]) -> dict:
        if not group:
            return {"n": 0}
        avg = lambda key: round(sum(c[key] for c in group) / len(group), 3)  # noqa: E731
        return {"n": len(group), "wall_s": avg("wall_s"), "thread_cpu_s": avg("thread_cpu_s"),
                "process_cpu_s": avg("process_cpu_s"), "report_wait_s": avg("report_wait_s"), "reports": avg("reports"),
                "set_up_s": avg("first_report_s"), "modules_imported": avg("modules_imported")}

    born = [c["start"] - c["process_started"] for c in first if c.get("process_started")]
    return {"all": means(clocks), "actor_first_trial": means(first), "reused_actor": means(reused),
            # worker process created -> its first trial starting (Ray's worker start, the actor, Tune's hand-over)
            "actor_start_s": round(sum(born) / len(born), 2) if born else None,
            # how far apart the first trials of the actors started (the first wave's stagger)
            "first_trials_start_spread_s": round(max(c["start"] for c in first) - min(c["start"] for c in first), 2)
            if first else None}


def bare_row(sweep: Sweep, setting: str, args, work: Path) -> dict:
    """``bare=N[,pin]``: the sweep's trials in N plain processes (``sweep_bare``), no Ray, Tune or MLflow."""
    items = setting.split(",")
    n, pin = int(items[0].partition("=")[2]), "pin" in items[1:]
    trials = [(t.params, t.seed) for t in with_setting(sweep, setting, sweep.name).trials()]
    threads = max(1, int(sweep.resources.cpu))
    t = time.perf_counter()
    device = "cuda" if sweep.resources.gpu > 0 else "cpu"  # a Ray trial without a GPU sees none
    records = run_bare(sweep.workload, args.scale, trials, n, pin, Path(os.environ["ORCHESTRATOR_CACHE"]), work,
                       threads, device)
    wall = time.perf_counter() - t
    if args.times_dir:
        Path(args.times_dir, f"{work.name}.trial_times.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    span = max(r["end"] for r in records) - min(r["start"] for r in records)
    warm = [r for r in records if not r["first_in_process"]]
    avg = lambda rs, key: round(sum(r[key] for r in rs) / len(rs), 3) if rs else None  # noqa: E731
    return {"sweep": sweep.name, "scale": args.scale, "setting": setting, "processes": n, "pinned": pin, "device": device,
            "threads_per_process": threads, "trials": len(trials), "processes_wall_s": round(wall, 1),
            "first_to_last_trial_s": round(span, 1), "mean_trial_s": avg(records, "wall_s"),
            "mean_thread_cpu_s": avg(records, "thread_cpu_s"), "warm_trials": len(warm),
            "warm_mean_trial_s": avg(warm, "wall_s"), "warm_mean_thread_cpu_s": avg(warm, "thread_cpu_s"),
            "trials_per_min": round(60 * len(records) / span, 2)}


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
                    help="settings compared side by side, e.g. max_concurrent=1 gpu=0.25,cpu=2 gpu=auto bare=8 bare=8,pin")
    ap.add_argument("--times-dir", default=None, help="also write each setting's per-trial clocks (JSON lines) here")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the private Ray (default: all)")
    args = ap.parse_args()
    sweep = load_sweep(args.sweep, args.scale, sets=parse_set(args.set) or None)
    if args.seeds:
        sweep.seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(tempfile.mkdtemp(prefix=f"{sweep.name}-bench-"))
    (run_ray if args.ray else run_local)(sweep, args, work)


if __name__ == "__main__":
    main()
