"""Wall time of the answers a user waits for at the prompt: ``list``, ``show`` and a spec error (issue 16.12:
each under 2 s).

    .venv/bin/python benchmarks/cli_latency.py [--repeats 5] [--sweep palm/quickstart] [--markdown]

Each command runs as a fresh process (what a user types), from an empty folder with a private MLflow store
that does not exist yet (``list`` must not create one), so the figure includes Python start-up and every
import the command pays; ``list`` is also timed against an existing (empty) store, where reading table
status imports mlflow. Prints the median and the worst of ``--repeats`` runs per command, the median CPU
time (user + system: on a shared machine wall time moves with the load, CPU time much less) and the
machine's load average. Kernel launches / host syncs: n/a (no GPU work).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def make_store(uri: str) -> None:
    """An MLflow store with its schema and no runs (what a user has after a first launch elsewhere)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(uri).search_experiments()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sweep", default="palm/quickstart")
    ap.add_argument("--markdown", action="store_true", help="also print the figures as a Markdown table")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cli-latency-"))
    bad = work / "bad.yaml"
    bad.write_text("name: bad\nworkload: palm\nparams: {alpah: 0.5}\n")  # a misspelt field: the spec error path
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_PLUGINS"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'absent.db'}"
    store = f"sqlite:///{work / 'store.db'}"
    make_store(store)
    exe = [sys.executable, "-m", "orchestrator"]
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "list (no store yet)": [*exe, "list"],
        "list (existing store)": [*exe, "list", "--tracking-uri", store],
        f"show {args.sweep}": [*exe, "show", args.sweep],
        "show (misspelt field)": [*exe, "show", str(bad)],
        "show (unknown sweep)": [*exe, "show", "no/such/sweep"],
    }
    loads = [os.getloadavg()[0]]
    rows = []
    for name, cmd in commands.items():
        runs = [timed(cmd, work, env) for _ in range(args.repeats)]
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        loads.append(os.getloadavg()[0])
        rows.append((name, statistics.median(walls), max(walls), statistics.median(cpus)))
    print(f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs; {args.repeats} runs each; "
          f"kernel launches / host syncs: n/a (no GPU work)")
    for name, median, worst, cpu in rows:
        print(f"{name:<32} median {median:6.2f} s   worst {worst:6.2f} s   CPU {cpu:6.2f} s")
    if args.markdown:
        print("\n| command | median wall s | worst wall s | median CPU s |\n| --- | --- | --- | --- |")
        for name, median, worst, cpu in rows:
            print(f"| `{name}` | {median:.2f} | {worst:.2f} | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
