"""Exact k-NN search speed: faiss vs torch ``mm`` + ``topk`` (issue 3 benchmark).

Setting of CMSF/SimReg's memory-bank look-up: a bank of 128k l2-normalised 128-d features, 256 queries,
top-10 by inner product. Times, per device:

- ``faiss_search``: search on a prebuilt ``IndexFlatIP`` (GPU index when faiss has GPUs);
- ``faiss_end_to_end``: ``knn_search(..., backend="faiss")`` as workloads call it (copies + index build + search);
- ``torch_mm_topk``: ``knn_search(..., backend="torch")`` (one matmul and ``topk``).

It also checks that both back-ends return the same neighbours. One JSON line per (device, method).

    OMP_NUM_THREADS=1 python benchmarks/knn.py --threads 1
    python benchmarks/knn.py --bank 128000 --dim 128 --queries 256 --k 10     # defaults = issue setting
"""
from __future__ import annotations

import argparse
import json
import platform

import importlib.util

import numpy as np
import torch
import torch.nn.functional as F

from gpu_counts import gpu_counts
from workloads.common.knn import knn_search
from workloads.common.metrics import measure_latency


def _faiss_search_fn(bank: torch.Tensor, queries: torch.Tensor, k: int, device: torch.device):
    import faiss

    index = faiss.IndexFlatIP(bank.shape[1])
    on_gpu = device.type == "cuda" and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0
    if on_gpu:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), device.index or 0, index)
    index.add(np.ascontiguousarray(bank.cpu().numpy()))
    q = np.ascontiguousarray(queries.cpu().numpy())
    return (lambda: index.search(q, k)), ("faiss-gpu" if on_gpu else "faiss-cpu")


def bench_device(device: torch.device, args) -> list[dict]:
    g = torch.Generator().manual_seed(args.seed)
    bank = F.normalize(torch.randn(args.bank, args.dim, generator=g), dim=1).to(device)
    queries = F.normalize(torch.randn(args.queries, args.dim, generator=g), dim=1).to(device)
    _, idx_torch = knn_search(bank, queries, args.k, metric="ip", backend="torch")
    runs = {"torch_mm_topk": (lambda: knn_search(bank, queries, args.k, metric="ip", backend="torch"), "torch")}
    if importlib.util.find_spec("faiss") is not None:
        _, idx_ref = knn_search(bank, queries, args.k, metric="ip", backend="faiss")
        search, faiss_kind = _faiss_search_fn(bank, queries, args.k, device)
        runs["faiss_search"] = (search, faiss_kind)
        runs["faiss_end_to_end"] = (lambda: knn_search(bank, queries, args.k, metric="ip", backend="faiss"),
                                    faiss_kind)
    else:  # e.g. the lent GPU machine, where faiss is not installed: agreement against float64 brute force
        idx_ref = (queries.double() @ bank.double().T).topk(args.k, dim=1).indices
    agree = (idx_ref.cpu() == idx_torch.cpu()).float().mean().item()
    rows = []
    for name, (fn, backend) in runs.items():
        t = measure_latency(fn, warmup=args.warmup, iters=args.iters, device=device)
        rows.append({"bench": "knn", "device": str(device), "method": name, "backend": backend,
                     "bank": args.bank, "dim": args.dim, "queries": args.queries, "k": args.k,
                     "threads": torch.get_num_threads(), "index_agreement": round(agree, 6),
                     **{key: round(v, 3) for key, v in t.items()},
                     "queries_per_s": round(args.queries / (t["median_ms"] / 1000.0), 1),
                     "counts": gpu_counts(fn, device),  # kernel launches / host syncs of one call (gpu_counts.py)
                     "host": platform.node(), "cpu": platform.processor() or platform.machine(),
                     "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bank", type=int, default=128_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=256)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch/faiss CPU threads (0 = library default)")
    p.add_argument("--cpu-only", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        import faiss

        faiss.omp_set_num_threads(args.threads)
    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.cpu_only:
        devices.append(torch.device("cuda", 0))
    for dev in devices:
        for row in bench_device(dev, args):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
