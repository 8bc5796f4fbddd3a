"""TTS latency benchmark: the early-exit path at the last exit vs the plain RevCol (paper: about 4 %, 55.3 vs
53.1 ms on a Jetson Orin), and one test-time head update vs one inference (paper: about 1 ms, ~2 %), for
every ``compile`` mode (none = eager, graph = CUDA graphs, inductor = torch.compile), side by side.

For each (arch, mode, batch) the plain model, the last-exit path (no exit fires: every head and check runs) and
one specialization step (exit pass + update of all early heads, the worst case of Sec. 4.2) are timed in turn
inside every iteration, so a noisy processor slows them alike; so is the update alone (``update_alone``: one
``runner.update`` from a stored trace), and in eager and graph mode the pass that launches (eager) or replays
(graph) the next column while an exit's scores or flag travel (``lookahead=1``, the ``_lookahead1`` variants) and
an image that leaves at exit 0 (``exit0``; with lookahead the next column's launched part is wasted GPU work).
Next to the times it prints what torch.profiler counted for one call of each: host syncs (cudaStreamSynchronize / cudaEventSynchronize / synchronous copies),
kernel launches (cudaLaunchKernel*) and CUDA-graph launches. Random weights (latency does not depend on them).
One JSON line per (device, arch, mode, batch).

    OMP_NUM_THREADS=1 python benchmarks/tts_latency.py [--archs revcol_tiny] [--modes none,graph,inductor]
        [--batches 1,32] [--iters 30]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from gpu_counts import gpu_counts
from workloads.tts.compiled import ExitRunner, PlainRunner
from workloads.tts.early_exit import NEVER
from workloads.tts.revcol import build_revcol
from workloads.tts.specialization import Specializer

IMAGE = {"revcol_tiny": (3, 224, 224, 1000), "revcol_mini": (3, 32, 32, 10), "revcol_micro": (3, 32, 32, 10)}


def _interleaved_ms(fns: dict, *, device: torch.device, iters: int, warmup: int) -> dict[str, list[float]]:
    """Per-iteration wall times (ms) of each function, run in turn within every iteration."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(warmup + iters):
        for name, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            if i >= warmup:
                out[name].append((time.perf_counter() - t0) * 1e3)
    return out


def bench(arch: str, device: torch.device, mode: str, batch: int, iters: int, warmup: int) -> dict:
    c, h, w, classes = IMAGE[arch]
    torch.manual_seed(0)
    model = build_revcol(arch, classes).to(device).eval()
    x = torch.rand(batch, c, h, w, device=device)
    never = torch.full((model.num_exits,), NEVER)
    first = torch.zeros(model.num_exits)  # every sample leaves at exit 0: what skipping the later columns costs
    plain = PlainRunner(model, compile=mode)
    last_exit = ExitRunner(model, never, compile=mode)
    spec = Specializer(model, never, lr=1e-4, compile=mode)  # worst case: no exit fires, every early head learns
    fns = {"plain": lambda: plain(x), "last_exit": lambda: last_exit(x)}
    if mode in ("none", "graph"):  # the pass launching / replaying ahead (lookahead 1), and exit 0 both ways
        ahead, exit0, exit0_ahead = (ExitRunner(model, never, compile=mode, lookahead=1),
                                     ExitRunner(model, first, compile=mode),
                                     ExitRunner(model, first, compile=mode, lookahead=1))
        fns.update({"last_exit_lookahead1": lambda: ahead(x), "exit0": lambda: exit0(x),
                    "exit0_lookahead1": lambda: exit0_ahead(x)})
    if batch == 1:
        fns["step"] = lambda: spec.step(x)
        trace = spec.runner(x)  # the update alone, from one pass's trace (graph mode: its static tensors)
        fns["update_alone"] = lambda: spec.runner.update(trace, model.num_exits - 1)
    t0 = time.perf_counter()
    for fn in fns.values():  # first calls capture / compile
        fn()
        fn()
    setup_s = time.perf_counter() - t0
    t = _interleaved_ms(fns, device=device, iters=iters, warmup=warmup)
    med = {k: statistics.median(v) for k, v in t.items()}
    ratio = [a / b for a, b in zip(t["last_exit"], t["plain"])]
    out = {"arch": arch, "device": str(device), "mode": mode, "batch": batch, "image": [c, h, w], "iters": iters,
           "plain_median_ms": med["plain"], "last_exit_median_ms": med["last_exit"],
           "last_exit_over_plain_median": statistics.median(ratio),
           "last_exit_over_plain_of_medians": med["last_exit"] / med["plain"],
           "plain_p10_p90_ms": [_q(t["plain"], 0.1), _q(t["plain"], 0.9)],
           "last_exit_p10_p90_ms": [_q(t["last_exit"], 0.1), _q(t["last_exit"], 0.9)],
           "capture_or_compile_s": setup_s,
           "counts": {k: gpu_counts(fn, device) for k, fn in fns.items()}}  # one call each (gpu_counts.py)
    if "last_exit_lookahead1" in t:
        out.update({f"{k}_median_ms": med[k] for k in ("last_exit_lookahead1", "exit0", "exit0_lookahead1")})
        out["last_exit_lookahead1_over_plain_median"] = statistics.median(
            [a / b for a, b in zip(t["last_exit_lookahead1"], t["plain"])])
    if "step" in t:
        update = [s - a for s, a in zip(t["step"], t["last_exit"])]
        out.update({"step_median_ms": med["step"], "update_median_ms": statistics.median(update),
                    "update_over_inference": statistics.median(update) / med["last_exit"],
                    "update_alone_median_ms": med["update_alone"],
                    "update_alone_over_inference": med["update_alone"] / med["last_exit"]})
    out.update({"torch": torch.__version__, "threads": torch.get_num_threads(),
                "host": torch.cuda.get_device_name(device) if device.type == "cuda"
                else platform.processor() or platform.machine()})
    return out


def _q(v: list[float], p: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="revcol_tiny")
    ap.add_argument("--modes", default="none,graph,inductor")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cpu-only", action="store_true")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu_only else "cpu")
    for arch in args.archs.split(","):
        for mode in args.modes.split(","):
            if mode == "graph" and device.type != "cuda":
                continue
            for batch in (int(b) for b in args.batches.split(",")):
                print(json.dumps(bench(arch, device, mode, batch, args.iters, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
