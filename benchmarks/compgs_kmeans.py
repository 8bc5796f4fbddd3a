"""K-means assignment throughput of CompGS (nearest centroid over N Gaussians, K codes, D dims).

Runs on CPU, and on CUDA when available; prints one JSON line per device:
python benchmarks/compgs_kmeans.py --n 200000 --k 4096 --dim 45
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from gpu_counts import gpu_counts
from workloads.compgs.kmeans import nearest_centroid


def bench(device: torch.device, n: int, k: int, dim: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, dim, generator=g).to(device)
    c = torch.randn(k, dim, generator=g).to(device)
    nearest_centroid(x[:1024], c)  # warm-up (kernels, allocator)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        nearest_centroid(x, c)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"benchmark": "compgs_kmeans_assign", "device": str(device), "n": n, "k": k, "dim": dim,
            "threads": torch.get_num_threads(), "seconds": round(best, 4),
            "million_gaussians_per_s": round(n / best / 1e6, 3),
            "counts": gpu_counts(lambda: nearest_centroid(x, c), device)}  # one assignment (gpu_counts.py)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--k", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=45)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for dev in devices:
        print(json.dumps(bench(dev, a.n, a.k, a.dim, a.repeats)), flush=True)


if __name__ == "__main__":
    main()
