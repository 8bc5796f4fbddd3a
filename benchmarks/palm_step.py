"""Time per adaptation batch of PALM vs TENT vs CoTTA (CPU, and CUDA when available); prints one JSON line.

Usage: python benchmarks/palm_step.py [--arch small_cnn] [--batch 64] [--iters 5]
"""
import argparse
import json

import torch

from gpu_counts import gpu_counts
from workloads.common.metrics import measure_latency
from workloads.common.models import build_model
from workloads.palm.adapters import CoTTA, Palm, Tent


def make(method, model, size):
    if method == "tent":
        return Tent(model, 1e-3)
    if method == "cotta":
        return CoTTA(model, 1e-3, size, 0.999, 0.01, 0.92, 32)
    return Palm(model, kappa=5e-4, alpha=0.5, temperature=50.0, eta=1.0, lam=0.01, image_size=size,
                importance_from="kl", optimizer="palm")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="small_cnn")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--devices", default="cpu,cuda", help="comma list; cuda is skipped when absent")
    a = p.parse_args()
    devices = [d for d in a.devices.split(",") if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    for device in devices:
        x = torch.rand(a.batch, 3, a.size, a.size, device=device)
        ms, counts = {}, {}
        for method in ("tent", "palm", "cotta"):
            torch.manual_seed(0)
            adapter = make(method, build_model(a.arch, 10, image_size=a.size).to(device), a.size)
            ms[method] = measure_latency(lambda: adapter.step(x), warmup=1, iters=a.iters, device=device)["median_ms"]
            counts[method] = gpu_counts(lambda: adapter.step(x), device)  # one step (gpu_counts.py)
        print(json.dumps({"device": device, "arch": a.arch, "batch": a.batch, "median_ms": ms, "counts": counts,
                          "palm_over_tent": ms["palm"] / ms["tent"], "cotta_over_tent": ms["cotta"] / ms["tent"]}))


if __name__ == "__main__":
    main()
