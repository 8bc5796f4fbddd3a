"""Metrics: top-k error, per-class accuracy, PSNR/SSIM, and latency with CUDA synchronisation."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence

import torch
import torch.nn.functional as F


def topk_errors(logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Top-k error in percent for each k."""
    maxk = max(ks)
    pred = logits.topk(maxk, dim=1).indices
    hit = pred.eq(targets.view(-1, 1))
    return {k: 100.0 * (1.0 - hit[:, :k].any(dim=1).float().mean().item()) for k in ks}


def per_class_accuracy(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Accuracy (%) of each class; NaN for classes absent from ``targets``."""
    correct = torch.zeros(num_classes).index_add_(0, targets, (preds == targets).float())
    count = torch.zeros(num_classes).index_add_(0, targets, torch.ones_like(targets, dtype=torch.float))
    return torch.where(count > 0, 100.0 * correct / count.clamp(min=1), torch.full_like(count, float("nan")))


def psnr(a: torch.Tensor, b: torch.Tensor, max_val: float = 1.0) -> float:
    mse = F.mse_loss(a.float(), b.float()).item()
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(max_val**2 / mse)).item()


def _gaussian_window(size: int = 11, sigma: float = 1.5, channels: int = 3) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum()).float()
    w = g[:, None] * g[None, :]
    return w.expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, max_val: float = 1.0, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) with an 11x11 Gaussian window, as used by 3DGS; ``a``/``b`` (C,H,W) or (N,C,H,W).

    Differentiable, so ``1 - ssim`` is the D-SSIM training loss."""
    if a.dim() == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    c = a.shape[1]
    w = _gaussian_window(window, sigma, c).to(a)
    pad = window // 2
    mu_a, mu_b = F.conv2d(a, w, padding=pad, groups=c), F.conv2d(b, w, padding=pad, groups=c)
    saa = F.conv2d(a * a, w, padding=pad, groups=c) - mu_a**2
    sbb = F.conv2d(b * b, w, padding=pad, groups=c) - mu_b**2
    sab = F.conv2d(a * b, w, padding=pad, groups=c) - mu_a * mu_b
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return m.mean()


def measure_latency(fn: Callable[[], object], *, warmup: int = 5, iters: int = 30,
                    device: torch.device | str = "cpu") -> dict[str, float]:
    """Median/percentile wall time of ``fn()`` in milliseconds, synchronising CUDA around each call."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))]  # noqa: E731
    return {"median_ms": statistics.median(times), "p10_ms": q(0.1), "p90_ms": q(0.9), "mean_ms": statistics.fmean(times)}
