"""NN-search share of a CMSF training step (dissertation Sec. 2.1.4: +0.7 % for MSF, +2.1 % for CMSF_self).

Times full training steps of the cmsf Trainer (two augmented views, target and online forward, neighbour
selection, backward, SGD, momentum update, bank update) and the neighbour-selection part alone, on CPU and,
when available, on CUDA. Prints one JSON line per (device, method).

    python benchmarks/cmsf_nn_overhead.py --arch small_cnn --image-size 32 --batch 64 --bank 4096 --steps 20
    python benchmarks/cmsf_nn_overhead.py --arch resnet50 --image-size 224 --batch 256 --bank 128000   # paper setting, GPU
"""
from __future__ import annotations

import argparse
import json
import platform

import torch

from gpu_counts import gpu_counts
from orchestrator.context import LocalContext
from workloads.cmsf.config import CmsfConfig
from workloads.cmsf.workload import Trainer, resolve
from workloads.common.datasets import DatasetInfo


def bench(device: str, method: str, args) -> dict:
    ctx = LocalContext(seed=0, scale="paper" if args.image_size >= 224 else "mini", device=device,
                       work_dir=args.work_dir, cache_dir=args.work_dir)
    n_images = max(args.bank * 2, args.batch * (args.steps + args.warmup) + 1)
    cfg = resolve(CmsfConfig(method=method, arch=args.arch, batch_size=args.batch, memory_size=args.bank,
                             dataset="synthetic", diagnostics_every=0), ctx.scale, n_images)
    info = DatasetInfo(1000, args.image_size, 3, (0.5,) * 3, (0.25,) * 3)
    labels = torch.randint(0, 1000, (n_images,))
    tr = Trainer(cfg, ctx, info, labels, args.steps + args.warmup)
    # fill M with random unit vectors so the search runs at full size; two visits of the same images so that,
    # for CMSF_self, every entry of M has its M' value and every query its cached w_i (a steady-state epoch)
    with torch.no_grad():
        for _visit in range(2):
            for start in range(0, args.bank, 4096):
                idx = torch.arange(start, min(start + 4096, args.bank), device=ctx.device)
                f = torch.nn.functional.normalize(torch.randn(idx.numel(), cfg.proj_dim, device=ctx.device), dim=1)
                tr.bank.enqueue(f, idx, labels.to(ctx.device)[idx])
    x = torch.rand(args.batch, 3, args.image_size, args.image_size)
    for s in range(args.warmup + args.steps):
        if s == args.warmup:
            tr.nn_seconds = tr.step_seconds = 0.0
        idx = torch.arange(s * args.batch, (s + 1) * args.batch) % args.bank   # images already cached
        tr.step(x, labels[idx], idx, s)
    step_ms, nn_ms, nn_share = (1000 * tr.step_seconds / args.steps, 1000 * tr.nn_seconds / args.steps,
                                100 * tr.nn_seconds / tr.step_seconds)
    counts = gpu_counts(lambda: tr.step(x, labels[idx], idx, s), device)  # the last step once more (gpu_counts.py)
    return {"device": device, "device_name": torch.cuda.get_device_name() if device == "cuda" else platform.processor(),
            "method": method, "arch": args.arch, "image_size": args.image_size, "batch": args.batch, "bank": args.bank,
            "steps": args.steps, "threads": torch.get_num_threads(),
            "step_ms": round(step_ms, 2), "counts": counts,
            "nn_ms": round(nn_ms, 3), "nn_share_pct": round(nn_share, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="small_cnn")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--bank", type=int, default=4096)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--methods", default="byol,msf,cmsf_self,cmsf_sup")
    p.add_argument("--devices", default="cpu,cuda")
    p.add_argument("--work-dir", default="/tmp/cmsf_bench")
    args = p.parse_args()
    for device in args.devices.split(","):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        for method in args.methods.split(","):
            print(json.dumps(bench(device, method, args)), flush=True)


if __name__ == "__main__":
    main()
