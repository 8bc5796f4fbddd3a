"""Run any sweep's trials one after another in this process (LocalContext, no Ray, no MLflow), timing the sweep.

Used for the workloads' quickstart budgets (a headline table at mini within 2 minutes on 2 CPU cores) and mini-scale
evidence (``--seeds 0,1,2`` replaces the sweep's seeds). One JSON line per trial, then one with the total time.

    python benchmarks/sweep_local.py sweeps/cmsf/table2_1.yaml --scale mini
    python benchmarks/sweep_local.py sweeps/cmsf/table2_1.yaml --scale mini --seeds 0,1,2 --keys nn1,nn20,linear
    python benchmarks/sweep_local.py sweeps/tts/table1.yaml --scale mini [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload
from orchestrator.spec import load_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep")
    ap.add_argument("--scale", default="mini")
    ap.add_argument("--seeds", default="", help="comma-separated seeds replacing the sweep's (evidence runs)")
    ap.add_argument("--cache-dir", default=None, help="default: a fresh temporary folder (models trained from scratch)")
    ap.add_argument("--keys", default="", help="comma-separated summary keys to print (default: all)")
    args = ap.parse_args()
    sweep = load_sweep(args.sweep, args.scale)
    wl = get_workload(sweep.workload)
    work = Path(tempfile.mkdtemp(prefix=f"{sweep.name}-local-"))
    cache = Path(args.cache_dir) if args.cache_dir else work / "cache"
    keys = [k for k in args.keys.split(",") if k]
    # the sweep's trials are grid x seeds; --seeds re-expands the distinct grid points over the given seeds
    points = {json.dumps(t.params, sort_keys=True, default=str): t.params for t in sweep.trials()}
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    trials = [(p, s) for p in points.values() for s in seeds] if seeds else [(t.params, t.seed) for t in sweep.trials()]
    t0 = time.perf_counter()
    for i, (params, seed) in enumerate(trials):
        t = time.perf_counter()
        ctx = LocalContext(seed=seed, scale=args.scale, work_dir=work / f"trial{i}", cache_dir=cache)
        wl.fn(build_config(wl, params), ctx)
        grid = {k: params[k] for k in sweep.grid}
        shown = {k: round(v, 4) for k, v in ctx.summaries.items() if not keys or k in keys}
        print(json.dumps({"trial": grid, "seed": seed, "seconds": round(time.perf_counter() - t, 2), **shown},
                         default=str), flush=True)
    print(json.dumps({"sweep": sweep.name, "scale": args.scale, "trials": len(trials),
                      "total_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads(),
                      "work_dir": str(work)}), flush=True)


if __name__ == "__main__":
    main()
