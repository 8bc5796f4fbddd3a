"""Training-step time and peak memory: NOLA (shared / per-layer basis) vs LoRA vs PRANC (Table 3.11, Sec. B.10).

Paper figures: NOLA-shared / LoRA = 1.004, NOLA-non-shared / LoRA = 1.075 (GPT-2, batch 8), PRANC / NOLA = 4.7
(ResNet20, batch 256). Here: a timm ViT adapted on QV (NOLA vs LoRA) and an MLP from scratch (PRANC vs NOLA,
equal coefficient counts). Prints one JSON line per device; on CUDA also each ViT variant's kernel launches and
host syncs per step (torch.profiler).

    OMP_NUM_THREADS=1 python benchmarks/nola_step.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from workloads.nola.inject import AdapterSpec, inject_adapters
from workloads.nola.pranc import PRANCModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_counts import gpu_counts, prefixed  # noqa: E402  (kernel launches and host syncs of one step)


def _vit(device):
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    return VisionTransformer(img_size=32, patch_size=4, num_classes=10, embed_dim=192, depth=6, num_heads=3).to(device)


def _mlp(device):
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)


def step_time(model: nn.Module, x, y, device, iters: int, warmup: int = 3) -> tuple[float, float]:
    """Median seconds of one forward+backward+AdamW step, and the peak CUDA memory (MiB; 0 on CPU)."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + iters):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
    return sorted(times)[len(times) // 2], peak


def train_step(model: nn.Module, x, y):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def run(device: torch.device, quick: bool) -> dict:
    iters = 5 if quick else 20
    x = torch.rand(8, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (8,), device=device)
    out = {"device": str(device), "batch_vit": 8, "iters": iters}
    for name, spec in {"lora": AdapterSpec("lora", rank=4),
                       "nola_shared": AdapterSpec("nola", rank=4, k=1000, l=1000, shared_basis=True),
                       "nola_nonshared": AdapterSpec("nola", rank=4, k=1000, l=1000, shared_basis=False)}.items():
        model = _vit(device)
        inject_adapters(model, "vit", "qv", spec, train_also=("head",))
        model.to(device)
        out[f"{name}_ms"], out[f"{name}_peak_mib"] = (v * s for v, s in zip(step_time(model, x, y, device, iters), (1e3, 1)))
        out.update(prefixed(name, gpu_counts(train_step(model, x, y), device)))
    batch = 64 if quick else 256
    xm = torch.rand(batch, 1, 28, 28, device=device)
    ym = torch.randint(0, 10, (batch,), device=device)
    nola_mlp = _mlp(device)
    inject_adapters(nola_mlp, "mlp", "linear", AdapterSpec("nola", rank=4, k=250, l=250))
    nola_mlp.to(device)
    out["mlp_nola_ms"] = step_time(nola_mlp, xm, ym, device, iters)[0] * 1e3
    pranc = PRANCModel(_mlp(device), num_bases=1000, seed=0).to(device)  # 1000 = 2 layers × (k + l)
    out["mlp_pranc_ms"] = step_time(pranc, xm, ym, device, max(2, iters // 4), warmup=1)[0] * 1e3
    out["nola_shared_over_lora"] = out["nola_shared_ms"] / out["lora_ms"]
    out["nola_nonshared_over_lora"] = out["nola_nonshared_ms"] / out["lora_ms"]
    out["pranc_over_nola"] = out["mlp_pranc_ms"] / out["mlp_nola_ms"]
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations and a smaller MLP batch (CI)")
    args = ap.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        print(json.dumps(run(device, args.quick)), flush=True)


if __name__ == "__main__":
    main()
