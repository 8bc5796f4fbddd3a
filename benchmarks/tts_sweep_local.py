"""Run a TTS sweep's trials one after another in this process (LocalContext), timing the whole sweep.

Used for the quickstart budget (Table 1 at mini scale must finish within 2 minutes on 2 CPU cores) and for the
mini-scale evidence of the specialization. Prints one JSON line per trial and a final JSON line with the time.

    python benchmarks/tts_sweep_local.py sweeps/tts/table1.yaml --scale mini [--cache-dir DIR]
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
    ap.add_argument("--cache-dir", default=None, help="default: a fresh temporary folder (models trained from scratch)")
    ap.add_argument("--keys", default="", help="comma-separated summary keys to print (default: all)")
    args = ap.parse_args()
    sweep = load_sweep(args.sweep, args.scale)
    wl = get_workload(sweep.workload)
    work = Path(tempfile.mkdtemp(prefix="tts-sweep-"))
    cache = Path(args.cache_dir) if args.cache_dir else work / "cache"
    keys = [k for k in args.keys.split(",") if k]
    t0 = time.perf_counter()
    for i, trial in enumerate(sweep.trials()):
        t = time.perf_counter()
        ctx = LocalContext(seed=trial.seed, scale=args.scale, work_dir=work / f"trial{i}", cache_dir=cache)
        wl.fn(build_config(wl, trial.params), ctx)
        grid = {k: trial.params[k] for k in sweep.grid}
        shown = {k: round(v, 4) for k, v in ctx.summaries.items() if not keys or k in keys}
        print(json.dumps({"trial": grid, "seconds": round(time.perf_counter() - t, 2), **shown}), flush=True)
    print(json.dumps({"sweep": sweep.name, "scale": args.scale, "trials": len(sweep.trials()),
                      "total_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads(),
                      "work_dir": str(work)}), flush=True)


if __name__ == "__main__":
    main()
