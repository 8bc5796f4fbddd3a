"""Rasterizer speed of CompGS: dense torch reference vs sparse torch (bounding boxes) vs gsplat (CUDA only).

Renders the ground-truth Gaussians of a generated scene (or a random cloud) from its test cameras; prints one
JSON line per (backend, device) with forward FPS and forward+backward ms:
python benchmarks/compgs_rasterizer.py --scene mini --size 64 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from gpu_counts import gpu_counts
from workloads.compgs.cameras import ring_cameras
from workloads.compgs.generated_scene import ground_truth
from workloads.compgs.gsplat_backend import backend_available, render_gsplat
from workloads.compgs.rasterizer import render
from workloads.compgs.sparse_rasterizer import render_sparse

BACKENDS = {"dense": render, "sparse": render_sparse, "gsplat": render_gsplat}


def bench(name: str, device: torch.device, gt: dict, cams: list[dict], repeats: int) -> dict:
    fn = BACKENDS[name]
    sh = torch.cat([gt["dc"][:, None, :], gt["sh"]], 1)
    args = [t.to(device) for t in (gt["pos"], gt["scale"], gt["rot"], gt["opacity"], sh)]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        fn(*args, 3, cams[0])  # warm-up
        best = float("inf")
        for _ in range(repeats):
            sync()
            t = time.perf_counter()
            for cam in cams:
                fn(*args, 3, cam)
            sync()
            best = min(best, time.perf_counter() - t)
    leaves = [a.clone().requires_grad_(True) for a in args]
    sync()
    t = time.perf_counter()
    fn(*leaves, 3, cams[0])["image"].sum().backward()
    sync()
    fwd_bwd_ms = round(1e3 * (time.perf_counter() - t), 1)
    with torch.no_grad():
        fwd_counts = gpu_counts(lambda: fn(*args, 3, cams[0]), device)  # one view (gpu_counts.py)
    bwd_counts = gpu_counts(lambda: fn(*leaves, 3, cams[0])["image"].sum().backward(), device)
    return {"backend": name, "device": str(device), "gaussians": int(args[0].shape[0]), "size": cams[0]["width"],
            "fps": round(len(cams) / best, 2), "fwd_bwd_ms": fwd_bwd_ms, "threads": torch.get_num_threads(),
            "counts_fwd": fwd_counts, "counts_fwd_bwd": bwd_counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scene", default="mini", help="generated scene whose ground-truth Gaussians are rendered")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--backends", default="dense,sparse,gsplat")
    args = ap.parse_args()
    gt = ground_truth(args.scene)
    cams = ring_cameras(args.views, radius=2.6, height=1.1, size=args.size, phase=0.5)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        for name in args.backends.split(","):
            if name == "gsplat" and (device.type != "cuda" or not backend_available()):
                continue
            print(json.dumps(bench(name, device, gt, cams, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
