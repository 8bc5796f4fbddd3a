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
from workloads.common.models import build_model
from workloads.slowformer import losses
from workloads.slowformer.attack import Adversary
from workloads.slowformer.halting import gaussian_prior
from workloads.slowformer.models import ATSViT, AViT, AdaViT
from workloads.slowformer.patch import init_patch, scaled_patch_size


def make(method: str, arch: str, image_size: int):
    dense = build_model(arch, 10, image_size=image_size, **({"embed_dim": 96, "depth": 6, "num_heads": 3} if arch == "small_vit" else {}))
    depth = len(dense.net.blocks)
    if method == "avit":
        m = AViT(dense, gate_center=5.0)
        prior = gaussian_prior(depth, 5 * depth / 6)
        return m, lambda: losses.avit_compute_loss(m.last, prior.to(next(m.parameters()).device), 0.1, 5e-4, 0.01)
    if method == "ats":
        layers = tuple(range(round(3 * depth / 12), round(9 * depth / 12) + 1))
        m = ATSViT(dense, layers)
        return m, lambda: losses.ats_compute_loss(m.last, [1.0] * len(layers))
    m = AdaViT(dense)
    return m, lambda: losses.adavit_compute_loss(m.last)


def bench(device: str, arch: str, method: str, batch: int, steps: int) -> dict:
    image_size = 32 if arch == "small_vit" else 224
    model, loss_fn = make(method, arch, image_size)
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    adv = Adversary(init_patch(scaled_patch_size(64, image_size)))
    scaled = (adv.values.to(device) / 255).requires_grad_(True)
    opt = torch.optim.AdamW([scaled], lr=0.2, weight_decay=0.0)
    x = torch.rand(batch, 3, image_size, image_size, device=device)

    def step():
        model(adv.apply(x, scaled * 255))
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            scaled.copy_((scaled * 255).clamp(0, 255).round() / 255)

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    return {"bench": "slowformer_patch_optimisation", "device": device, "arch": arch, "method": method, "batch": batch,
            "steps": steps, "images_per_s": round(batch * steps / dt, 1), "ms_per_step": round(1000 * dt / steps, 1),
            "threads": torch.get_num_threads(), "counts": gpu_counts(step, device),  # one step (gpu_counts.py)
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
