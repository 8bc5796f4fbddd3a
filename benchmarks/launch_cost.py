"""The fixed cost of one sweep launch, broken down (issue 18.3: target <= 10 s end to end).

    .venv/bin/python benchmarks/launch_cost.py [--repeats 3] [--num-cpus N] [--markdown]

A one-trial sweep of ``launch_probe`` (below: its trial imports torch and sums a tensor, the least any
real workload does) is launched in fresh processes:

* ``orchestrator run`` end to end (what a user waits for: Python start, imports, MLflow, Ray start, the first
  actor, the trial, shutdown), on a new store and again on the store the first launch made;
* what ``run`` does before its first launch, timed alone in a fresh process: the store in a background thread
  while Ray starts (``orchestrator.warm_start.prepare``), to compare with the sum of the same steps in turn;
* the same steps timed one by one inside one driver: the driver's imports (orchestrator, mlflow, ray,
  ray.tune), opening the MLflow store (a new SQLite store creates its schema), starting the private Ray,
  the first launch (parent run, Tune, the first trial actor and its worker's imports, the trial's runs),
  a second launch in the same Ray (what every later sweep of one ``reproduce`` pays), and ``ray.shutdown()``.

Each figure is the median of ``--repeats`` runs, with the load average beside it: on a shared machine
wall time moves with the load, so the CPU time of the end-to-end driver is printed as well. Kernel launches
and host syncs: n/a (no GPU work is timed here).

Compiled bytecode: where Python may not write ``.pyc`` files (``PYTHONDONTWRITEBYTECODE=1``, as on the lent
GPU image, with packages installed ``--no-compile``) every process of a launch (driver, Ray's GCS helpers,
agents, the trial's worker) compiles Ray's and MLflow's sources again on every import: ~10 s of the end-to-end
figure there. An ordinary ``pip install`` writes them; on such a machine run ``python -m compileall -q
SITE_PACKAGES`` once first, or the figures measure the compiler. The script says which case it ran in.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.registry import register

ROOT = Path(__file__).resolve().parents[1]
SWEEP = "name: launch-probe\nworkload: launch_probe\nseeds: [0]\nresources: {cpu: 1}\n"


@dataclass
class ProbeConfig:
    size: int = 8  # elements summed by the trial


@register("launch_probe", config=ProbeConfig, metrics=("total",))
def probe(cfg: ProbeConfig, ctx) -> None:
    import torch  # what every real trial's worker pays

    ctx.summary(total=float(torch.ones(cfg.size).sum()))


def phases(work: Path, num_cpus: int | None) -> dict[str, float]:
    """Each step of a launch timed on its own, in this (fresh) process."""
    out: dict[str, float] = {}

    def step(name: str, fn):
        t = time.perf_counter()
        value = fn()
        out[name] = round(time.perf_counter() - t, 2)
        return value

    import importlib

    importlib.import_module("launch_cost")  # registered under its module name, which the Ray workers import
    step("import orchestrator.launch", lambda: __import__("orchestrator.launch"))
    step("import mlflow", lambda: __import__("mlflow.store.tracking.sqlalchemy_store"))
    step("import ray", lambda: __import__("ray"))
    step("import ray.tune", lambda: __import__("ray.tune"))
    from orchestrator.launch import ensure_ray, run_sweep
    from orchestrator.spec import load_sweep
    from orchestrator.store_preflight import open_recorder

    (work / "probe.yaml").write_text(SWEEP)
    sweep = load_sweep(work / "probe.yaml", "smoke")
    uri = f"sqlite:///{work / 'mlruns.db'}"
    step("MLflow store (new: schema created)", lambda: open_recorder(uri, sweep.name))
    step("Ray start", lambda: ensure_ray(num_cpus=num_cpus))
    step("first launch (Tune, first actor, trial)", lambda: run_sweep(sweep, tracking_uri=uri,
                                                                      storage_path=work / "ray", verbose=0))
    step("second launch, same Ray", lambda: run_sweep(sweep, tracking_uri=uri, storage_path=work / "ray", verbose=0))
    from orchestrator.warm_start import shutdown

    step("Ray shutdown (warm_start.shutdown)", shutdown)
    return out


def side_by_side(work: Path, num_cpus: int | None) -> dict[str, float]:
    """What ``orchestrator run`` does before its first launch, in a fresh process: the store (mlflow's
    import, a new schema, the experiment) in a background thread while Ray starts (``warm_start.prepare``)."""
    t = time.perf_counter()
    from orchestrator.warm_start import prepare, shutdown

    prepare(f"sqlite:///{work / 'mlruns.db'}", ["launch-probe"], num_cpus=num_cpus)
    out = {"store + Ray start side by side (warm_start.prepare, imports included)": round(time.perf_counter() - t, 2)}
    shutdown()
    return out


def end_to_end(work: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (driver plus its children) of ``orchestrator run`` on the probe sweep."""
    (work / "probe.yaml").write_text(SWEEP)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(work / "probe.yaml"), "--scale", "smoke",
                           "--tracking-uri", f"sqlite:///{work / 'mlruns.db'}", "--storage-path", str(work / "ray")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"orchestrator run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bytecode_note() -> str:
    """Whether Ray's and MLflow's modules load from compiled bytecode here (see the module docstring)."""
    import importlib.util

    missing = []
    for name in ("ray", "mlflow"):
        spec = importlib.util.find_spec(name)
        if spec and spec.origin and not Path(importlib.util.cache_from_source(spec.origin)).exists():
            missing.append(name)
    if not missing:
        return "ray and mlflow load from compiled .pyc"
    writes = "" if sys.dont_write_bytecode else " (written on first import)"
    return f"no .pyc for {', '.join(missing)}: sources compiled on import{writes}"


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    # The Ray workers import this module to find the probe workload (a plugin, as a private method would be).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), str(ROOT), env.get("PYTHONPATH")]))
    env["ORCHESTRATOR_PLUGINS"] = "launch_cost"
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the private Ray in the phase runs")
    ap.add_argument("--markdown", action="store_true", help="also print the figures as a Markdown table")
    ap.add_argument("--phases", metavar="DIR", help=argparse.SUPPRESS)  # internal: one phase run in DIR
    ap.add_argument("--side-by-side", metavar="DIR", help=argparse.SUPPRESS)  # internal: prepare() alone
    args = ap.parse_args(argv)
    if args.phases:
        print(json.dumps(phases(Path(args.phases), args.num_cpus)))
        return 0
    if args.side_by_side:
        print(json.dumps(side_by_side(Path(args.side_by_side), args.num_cpus)))
        return 0
    env = child_env()
    load = [os.getloadavg()[0]]
    rows: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        work = Path(tempfile.mkdtemp(prefix="launch-cost-"))
        for label in ("orchestrator run, new store", "orchestrator run, existing store"):
            wall, cpu = end_to_end(work, env)
            rows.setdefault(f"{label}: wall", []).append(wall)
            rows.setdefault(f"{label}: driver+children CPU", []).append(cpu)
        load.append(os.getloadavg()[0])
        for mode in ("--phases", "--side-by-side"):
            work = Path(tempfile.mkdtemp(prefix="launch-cost-phases-"))
            cmd = [sys.executable, __file__, mode, str(work)] + (["--num-cpus", str(args.num_cpus)] if args.num_cpus else [])
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if proc.returncode:
                raise SystemExit(f"{mode} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            for name, seconds in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                rows.setdefault(name, []).append(seconds)
            load.append(os.getloadavg()[0])
    print(f"{os.cpu_count()} CPUs, load average {min(load):.1f}-{max(load):.1f} during the runs; "
          f"{args.repeats} run(s) each, median (min-max) seconds; kernel launches / host syncs: n/a (no GPU work); "
          f"{bytecode_note()}")
    for name, values in rows.items():
        print(f"{name:<52} {statistics.median(values):6.2f}  ({min(values):.2f}-{max(values):.2f})")
    if args.markdown:
        print("\n| step | median s | min-max s |\n| --- | --- | --- |")
        for name, values in rows.items():
            print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
