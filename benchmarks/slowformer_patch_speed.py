"""Patch-optimisation throughput of SlowFormer (images/s through forward + backward to the patch) against
A-ViT, ATS and AdaViT, on CPU and, when available, CUDA. Prints one JSON line per (device, model, method).

    OMP_NUM_THREADS=1 python benchmarks/slowformer_patch_speed.py --models small_vit --steps 5
    python benchmarks/slowformer_patch_speed.py --models small_vit deit_tiny_patch16_224 --batch 64
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from gpu_counts import gpu_counts
from torch.utils.data import TensorDataset

from workloads.common.models import build_model
from workloads.slowformer.attack import Adversary, optimise
from workloads.slowformer.config import SlowFormerConfig
from workloads.slowformer.models import ATSViT, AViT, AdaViT
from workloads.slowformer.patch import init_patch_normalized, normalized_to_levels, scaled_patch_size
from workloads.slowformer.workload import ats_layer_indices, compute_loss_fn

SMALL = {"embed_dim": 96, "depth": 6, "num_heads": 3}


def make(method: str, arch: str, image_size: int):
    """The victim and the trial's own SlowFormer objective (``compute_loss_fn``: the official A-ViT prior and
    α_d = 1e-3, ATS weights per DeiT size, AdaViT's usage term), so the benchmark times what a trial runs."""
    dense = build_model(arch, 10, image_size=image_size, **(SMALL if arch == "small_vit" else {}))
    depth = len(dense.net.blocks)
    cfg = SlowFormerConfig(method=method, arch=arch, **(dict(SMALL, gate_center=5.0) if arch == "small_vit" else {}))
    if method == "avit":
        model = AViT(dense, cfg.halt_eps, cfg.gate_scale, cfg.gate_center)
    elif method == "ats":
        model = ATSViT(dense, ats_layer_indices(cfg, depth), cfg.max_tokens, cfg.ats_sampling)
    else:
        model = AdaViT(dense, gates=cfg.adavit_gates)
    return model, compute_loss_fn(cfg, model)


def bench(device: str, arch: str, method: str, batch: int, steps: int) -> dict:
    image_size = 32 if arch == "small_vit" else 224
    model, loss_fn = make(method, arch, image_size)
    model.to(device).eval()
    size = scaled_patch_size(64, image_size)
    start = normalized_to_levels(init_patch_normalized(size, 3, generator=torch.Generator().manual_seed(0)),
                                 model.normalize.mean.cpu(), model.normalize.std.cpu())
    adv = Adversary(start)
    # one batch of images, cycled: the timed loop is the trial's own optimise (normalised patch space, AdamW,
    # projection and 256-level quantisation each step), without data loading from disk
    data = TensorDataset(torch.rand(batch, 3, image_size, image_size), torch.zeros(batch, dtype=torch.long))

    def run(n: int):
        optimise(model, adv, data, loss_fn, steps=n, lr=0.2, batch_size=batch, device=torch.device(device))

    run(1)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    run(steps)
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    return {"bench": "slowformer_patch_optimisation", "device": device, "arch": arch, "method": method, "batch": batch,
            "steps": steps, "images_per_s": round(batch * steps / dt, 1), "ms_per_step": round(1000 * dt / steps, 1),
            "threads": torch.get_num_threads(), "counts": gpu_counts(lambda: run(1), device),  # one step (gpu_counts.py)
            "gpu": torch.cuda.get_device_name() if device == "cuda" else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["small_vit", "deit_tiny_patch16_224"])
    ap.add_argument("--methods", nargs="+", default=["avit", "ats", "adavit"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for arch in args.models:
            for method in args.methods:
                print(json.dumps(bench(device, arch, method, args.batch, args.steps)), flush=True)


if __name__ == "__main__":
    main()
