"""TTS latency benchmark: overhead of the early-exit path at the last exit vs the plain model (paper: about
4 %, 55.3 vs 53.1 ms on a Jetson Orin), the cost of one test-time update step vs inference, and each fixed exit.

Batch size 1, CUDA-synchronised on GPU; random weights (latency does not depend on them). Prints one JSON line
per (device, model). Runs on CPU, and on CUDA when available.

    OMP_NUM_THREADS=1 python benchmarks/tts_latency.py [--archs revcol_mini,revcol_tiny] [--iters 30]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from workloads.tts.early_exit import NEVER, adaptive_forward, fixed_exit_thresholds
from workloads.tts.measure import exit_gflops
from workloads.tts.revcol import build_revcol
from workloads.tts.specialization import Specializer

IMAGE = {"revcol_tiny": (3, 224, 224, 1000), "revcol_mini": (3, 32, 32, 10), "revcol_micro": (3, 32, 32, 10)}


def _interleaved_ms(fns: dict, *, device: torch.device, iters: int, warmup: int) -> dict[str, list[float]]:
    """Per-iteration wall times (ms) of each function, run in turn within every iteration so that a
    shared, noisy processor slows all of them alike (differences stay meaningful)."""
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


def bench(arch: str, device: torch.device, iters: int, warmup: int) -> dict:
    c, h, w, classes = IMAGE[arch]
    torch.manual_seed(0)
    model = build_revcol(arch, classes).to(device).eval()
    x = torch.rand(1, c, h, w, device=device)
    never = torch.full((model.num_exits,), NEVER)
    spec = Specializer(model, never, lr=1e-4)  # worst case: no exit fires, every early head is updated

    def infer(fn):
        def run():
            with torch.no_grad():
                fn()
        return run

    fns = {"plain": infer(lambda: model(x)), "last_exit": infer(lambda: adaptive_forward(model, x, never)),
           "step": lambda: spec.step(x)}
    for k in range(model.num_exits - 1):
        fns[f"exit{k}"] = infer(lambda k=k: adaptive_forward(model, x, fixed_exit_thresholds(k, model.num_exits)))
    t = _interleaved_ms(fns, device=device, iters=iters, warmup=warmup)
    med = {k: statistics.median(v) for k, v in t.items()}
    overhead = [100.0 * (a / b - 1.0) for a, b in zip(t["last_exit"], t["plain"])]
    update = [s - a for s, a in zip(t["step"], t["last_exit"])]
    per_exit, baseline_gflops = exit_gflops(model, (c, h, w), device)
    return {
        "arch": arch, "device": str(device), "image": [c, h, w], "iters": iters,
        "plain_median_ms": med["plain"], "plain_p10_ms": _q(t["plain"], 0.1), "plain_p90_ms": _q(t["plain"], 0.9),
        "last_exit_median_ms": med["last_exit"], "last_exit_p10_ms": _q(t["last_exit"], 0.1),
        "last_exit_p90_ms": _q(t["last_exit"], 0.9),
        "last_exit_overhead_pct_median": statistics.median(overhead),
        "fixed_exit_median_ms": [med[f"exit{k}"] for k in range(model.num_exits - 1)] + [med["last_exit"]],
        "update_step_median_ms": statistics.median(update),
        "update_vs_inference_pct": 100.0 * statistics.median(update) / med["last_exit"],
        "gflops_per_exit": per_exit, "gflops_plain": baseline_gflops,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "host": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
    }


def _q(v: list[float], p: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="revcol_mini,revcol_tiny")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cpu-only", action="store_true")
    args = ap.parse_args()
    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.cpu_only:
        devices.append(torch.device("cuda"))
    for device in devices:
        for arch in args.archs.split(","):
            print(json.dumps(bench(arch, device, args.iters, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
