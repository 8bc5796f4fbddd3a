"""Metrics: top-k error, per-class accuracy, PSNR/SSIM, and latency with CUDA synchronisation."""
from __future__ import annotations

import functools
import math
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
    """PSNR in dB, 10 log10(max_val² / MSE) over every element of ``a``/``b`` (one image or a batch); ``inf`` for
    identical inputs. As 3DGS's ``utils/image_utils.py`` ``psnr`` (there 20 log10(1 / sqrt(MSE)), images in [0, 1]),
    which CompGS evaluates with; the MSE is taken in the inputs' precision (at least float32)."""
    dtype = torch.promote_types(a.dtype, torch.float32)
    mse = float(((a.to(dtype) - b.to(dtype)) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(max_val**2 / mse)


@functools.lru_cache(maxsize=16)  # built once per (size, sigma, dtype, device): training calls SSIM every iteration
def gaussian_window(size: int = 11, sigma: float = 1.5, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """The (size, size) normalised Gaussian of 3DGS's ``create_window`` (``utils/loss_utils.py``): the outer product
    of exp(-(x - size//2)² / 2σ²), x = 0..size-1, summing to 1. Computed in float64, then cast to ``dtype``
    (3DGS builds it in float32; the two agree to float32 rounding). Cached: never modify the returned tensor."""
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).to(dtype=dtype, device=device)


def ssim_map(a: torch.Tensor, b: torch.Tensor, max_val: float = 1.0, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM (Wang et al. 2004) of ``a``/``b`` (C, H, W) or (N, C, H, W), the map of 3DGS's ``_ssim``
    (``graphdeco-inria/gaussian-splatting utils/loss_utils.py``), which CompGS trains and evaluates with: local
    means and (co)variances from an 11x11 Gaussian window (σ 1.5) per channel, zero padding of window // 2 (so the
    border pixels see zeros), C1 = (0.01 L)², C2 = (0.03 L)². Differentiable."""
    batched = a.dim() == 4
    if not batched:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    c = a.shape[1]
    w = gaussian_window(window, sigma, dtype=a.dtype, device=a.device).expand(c, 1, window, window)
    conv = lambda t: F.conv2d(t, w, padding=window // 2, groups=c)  # noqa: E731
    mu_a, mu_b = conv(a), conv(b)
    var_a = conv(a * a) - mu_a**2
    var_b = conv(b * b) - mu_b**2
    cov = conv(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return m if batched else m[0]


def ssim(a: torch.Tensor, b: torch.Tensor, max_val: float = 1.0, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM over every pixel and channel of ``ssim_map`` (3DGS ``ssim(..., size_average=True)``, border
    included), a 0-dim tensor: ``1 - ssim`` is 3DGS's D-SSIM training term."""
    return ssim_map(a, b, max_val, window, sigma).mean()


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
