"""Wall time of the answers a user waits for at the prompt: ``list``, ``show`` and a spec error.

    .venv/bin/python benchmarks/cli_latency.py [--repeats 3] [--sweep palm/quickstart]

Each command runs as a fresh process (what a user types), from an empty folder with a private, absent
MLflow store, so the figure includes Python start-up and every import the command pays. Prints the
median and the worst of ``--repeats`` runs per command, and the machine's load average (on a shared
machine the figures move with it).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sweep", default="palm/quickstart")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cli-latency-"))
    bad = work / "bad.yaml"
    bad.write_text("name: bad\nworkload: palm\nparams: {alpah: 0.5}\n")  # a misspelt field: the spec error path
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlruns.db'}"}
    exe = [sys.executable, "-m", "orchestrator"]
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "list": [*exe, "list"],
        f"show {args.sweep}": [*exe, "show", args.sweep],
        "show (misspelt field)": [*exe, "show", str(bad)],
        "show (unknown sweep)": [*exe, "show", "no/such/sweep"],
    }
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.repeats} runs each")
    for name, cmd in commands.items():
        times = [timed(cmd, work, env) for _ in range(args.repeats)]
        print(f"{name:<32} median {statistics.median(times):6.2f} s   worst {max(times):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
