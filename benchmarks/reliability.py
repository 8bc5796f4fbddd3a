"""Reliability figures of docs/RELIABILITY.md: bad inputs tried / precise, faults injected / survived, runs lost,
duplicates, leftovers.

    .venv/bin/python benchmarks/reliability.py [--parallel 3] [--only inputs|faults|files|stores] [--json out.json]

* inputs: every case of tests/support/bad_inputs.py through the real CLI (in-process): precise = exit code 2,
  one paragraph naming the cause, no traceback, the MLflow store byte-for-byte unchanged, in time;
* faults: the driver SIGKILLed at three moments x {grid, Optuna search, ASHA}, Ctrl-C and SIGTERM, each
  followed by `--resume` (tests/support/fault_harness.py); survived = every figure below at its ideal value;
* files: files a finished sweep leaves under ray_results per trial, and what `orchestrator clean` removes;
* stores: rounds of two launches started together on a new SQLite store (both must succeed).

Everything runs on toy workloads (tests/support/toy_workloads.py) at smoke scale, in temporary folders.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from support.bad_inputs import CASES, check, make_template  # noqa: E402
from support.fault_harness import MOMENTS, SWEEPS, env, interrupt_case, run_case  # noqa: E402


def bad_inputs(root: Path) -> dict:
    template = make_template(root)
    outcomes = [check(case, root / f"case-{i}", template) for i, case in enumerate(CASES)]
    tried = [o for o in outcomes if "skipped" not in o]
    slowest = max(r["seconds"] for o in tried for r in o["results"])
    return {"tried": len(tried), "skipped": len(outcomes) - len(tried), "precise": sum(o["precise"] for o in tried),
            "not_precise": [o["name"] for o in tried if not o["precise"]], "slowest_s": slowest,
            "invocations": sum(len(o["results"]) for o in tried)}


def faults(root: Path, parallel: int) -> dict:
    jobs = [("kill", kind, moment) for kind in SWEEPS for moment in MOMENTS]
    jobs += [("signal", "grid", signal.SIGINT), ("signal", "asha", signal.SIGTERM), ("signal", "search", signal.SIGINT)]

    def one(job):
        what, kind, arg = job
        if what == "kill":
            return {"fault": f"SIGKILL {arg}", "kind": kind, **run_case(kind, arg, root / f"{kind}-{arg}")}
        r = interrupt_case(kind, arg, root / f"{kind}-{arg.name}")
        return {"fault": arg.name, "kind": kind, **r}

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        rows = list(pool.map(one, jobs))
    for r in rows:
        interrupt_ok = r["fault"] not in ("SIGINT", "SIGTERM") or (
            r["rc"] == 130 and "--resume" in r["stderr"] and "Traceback" not in r["stderr"]
            and "RUNNING" not in r["statuses"] and r["finished_without_summary"] == 0)
        r["survived"] = bool(r["reached"] and r["resume_rc"] == 0 and r["lost"] == 0 and r["duplicates"] == 0
                             and r["outside"] == 0 and r["rerun"] == 0 and r["running"] == 0
                             and r["parent_finished"] and r["orphans"] == 0 and interrupt_ok)
        for key in ("tail", "resume_tail", "stderr"):
            r.pop(key, None)
    return {"rows": rows, "injected": len(rows), "survived": sum(r["survived"] for r in rows),
            "lost": sum(r["lost"] for r in rows), "duplicates": sum(r["duplicates"] for r in rows),
            "rerun": sum(r["rerun"] for r in rows), "left_running": sum(r["running"] for r in rows),
            "outside": sum(r["outside"] for r in rows),
            "orphans_after_kill": sum(r.get("orphans_after_kill", 0) for r in rows),
            "orphans_after_resume": sum(r["orphans"] for r in rows)}


def files_per_trial(root: Path, n: int = 8) -> dict:
    sweep = root / "files.yaml"
    sweep.write_text("name: files\nworkload: toy_quadratic\nparams: {steps: 3}\n"
                     f"grid: {{x: [{', '.join(f'{i}.0' for i in range(n))}]}}\n")
    storage = root / "ray"
    args = [sys.executable, "-m", "orchestrator", "run", str(sweep), "--scale", "smoke", "--tracking-uri",
            f"sqlite:///{root / 'mlruns.db'}", "--storage-path", str(storage)]
    res = subprocess.run(args, env=env(root / "state"), cwd=root, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    before = sum(1 for p in storage.rglob("*") if p.is_file())
    clean = subprocess.run([sys.executable, "-m", "orchestrator", "clean", "--storage-path", str(storage)],
                           env=env(root / "state"), cwd=root, capture_output=True, text=True, timeout=120)
    after = sum(1 for p in storage.rglob("*") if p.is_file())
    return {"trials": n, "files_under_storage": before, "files_per_trial": round(before / n, 1),
            "after_clean": after, "clean_output": clean.stdout.strip().splitlines()[:1]}


def concurrent_new_store(root: Path, rounds: int = 4) -> dict:
    sweep = root / "conc.yaml"
    sweep.write_text("name: concurrent\nworkload: toy_quadratic\ngrid: {x: [0.0, 1.0]}\n")
    ok = 0
    for i in range(rounds):
        db = root / f"new-{i}.db"
        cmd = [sys.executable, "-m", "orchestrator", "run", str(sweep), "--local", "--scale", "smoke",
               "--tracking-uri", f"sqlite:///{db}"]
        procs = [subprocess.Popen(cmd, env=env(root / "state"), cwd=root, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        ok += sum(p.wait(timeout=600) == 0 for p in procs)
    return {"rounds": rounds, "launches": 2 * rounds, "succeeded": ok}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parallel", type=int, default=3, help="fault cases at once (each its own Ray)")
    ap.add_argument("--only", choices=("inputs", "faults", "files", "stores"), action="append")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    only = set(args.only or ("inputs", "faults", "files", "stores"))
    os.environ.setdefault("ORCHESTRATOR_PLUGINS", "support.toy_workloads")
    import support.toy_workloads  # noqa: F401

    out: dict = {"machine": f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "kernel_launches": "n/a (no GPU work)", "host_syncs": "n/a (no GPU work)"}
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        root = Path(tmp)
        for name, fn in (("inputs", lambda: bad_inputs(root / "inputs")),
                         ("faults", lambda: faults(root / "faults", args.parallel)),
                         ("files", lambda: files_per_trial(root / "files")),
                         ("stores", lambda: concurrent_new_store(root / "stores"))):
            if name in only:
                (root / name).mkdir(parents=True, exist_ok=True)
                t0 = time.time()
                out[name] = fn()
                out[name]["seconds"] = round(time.time() - t0, 1)
                print(json.dumps({name: out[name]}, default=str), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    print(render(out))
    return 0


def render(out: dict) -> str:
    lines = [f"Measured {out['date']} on {out['machine']}; kernel launches / host syncs: n/a (no GPU work).", "",
             "| figure | value |", "| --- | --- |"]
    if "inputs" in out:
        i = out["inputs"]
        lines += [f"| bad inputs tried / precise | {i['tried']} / {i['precise']} ({i['invocations']} CLI calls, "
                  f"slowest {i['slowest_s']:.2f} s) |"]
    if "faults" in out:
        f = out["faults"]
        lines += [f"| faults injected / survived | {f['injected']} / {f['survived']} |",
                  f"| runs lost | {f['lost']} |", f"| duplicates (a grid point finished twice) | {f['duplicates']} |",
                  f"| FINISHED trials re-run by --resume | {f['rerun']} |",
                  f"| runs left RUNNING | {f['left_running']} |", f"| runs outside the sweep | {f['outside']} |",
                  f"| Ray processes of killed drivers: alive after the kill / after the next launch | "
                  f"{f['orphans_after_kill']} / {f['orphans_after_resume']} |"]
    if "files" in out:
        x = out["files"]
        lines += [f"| files under ray_results per trial | {x['files_per_trial']} ({x['files_under_storage']} for "
                  f"{x['trials']} trials; {x['after_clean']} after `orchestrator clean`) |"]
    if "stores" in out:
        s = out["stores"]
        lines += [f"| launches on a new SQLite store, two at once | {s['launches']} / {s['succeeded']} succeeded |"]
    if "faults" in out:
        lines += ["", "| fault | sweep | finished before | lost | duplicates | re-run | left RUNNING | orphans "
                      "(kill / after) | survived | s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in out["faults"]["rows"]:
            lines.append(f"| {r['fault']} | {r['kind']} | {r.get('finished_before', '')} | {r['lost']} | "
                         f"{r['duplicates']} | {r['rerun']} | {r['running']} | {r.get('orphans_after_kill', '-')} / "
                         f"{r['orphans']} | {'yes' if r['survived'] else 'NO'} | {r.get('seconds', '')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
