"""Test-view metrics of a model as loaded from its file: PSNR, SSIM, LPIPS (when given a metric), rendering FPS
(dissertation Table 3.1)."""
from __future__ import annotations

import time

import torch

from workloads.common.metrics import psnr, ssim
from workloads.compgs.lpips_metric import lpips_distance
from workloads.compgs.render_backend import render_view


def as_saved_png(image: torch.Tensor) -> torch.Tensor:
    """``image`` as 3DGS's metrics read it back: ``render.py`` writes renders and ground truth with
    ``torchvision.utils.save_image`` (x·255 + 0.5, clamped, truncated to uint8) and ``metrics.py`` loads the PNGs
    with ``to_tensor`` (/ 255), so PSNR/SSIM/LPIPS see 8-bit images (docs/FIDELITY.md (compgs))."""
    return (image * 255 + 0.5).clamp(0, 255).floor() / 255


@torch.no_grad()
def evaluate(attrs: dict[str, torch.Tensor], sh_degree: int, views: list[dict], background: torch.Tensor,
             backend: str, device: torch.device, repeats: int = 3, lpips_metric: torch.nn.Module | None = None) -> dict:
    """Mean PSNR/SSIM (and LPIPS when ``lpips_metric`` is given) over ``views``, on the 8-bit images 3DGS's
    evaluation reads (``as_saved_png`` of render and ground truth), and FPS = views / wall time of the fastest of
    ``repeats`` passes."""
    attrs = {k: v.to(device) for k, v in attrs.items()}
    bg = background.to(device)
    images, ps, ss, lp, pairs = [], [], [], [], []
    for v in views:
        out = render_view(attrs, sh_degree, v["camera"], bg, backend)
        img = out["image"].clamp(0, 1)
        pairs.append(out.get("n_pairs", 0))
        gt = v["image"].to(device)
        img8, gt8 = as_saved_png(img), as_saved_png(gt)
        ps.append(psnr(img8, gt8))
        ss.append(float(ssim(img8, gt8)))
        if lpips_metric is not None:
            lp.append(lpips_distance(lpips_metric, img8, gt8))
        images.append(img.cpu())
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = float("inf")
    for _ in range(max(1, repeats)):  # best pass: robust to other processes sharing the CPU
        sync()
        t = time.perf_counter()
        for v in views:
            render_view(attrs, sh_degree, v["camera"], bg, backend)
        sync()
        best = min(best, time.perf_counter() - t)
    # pixel-Gaussian pairs per view: the torch rasterizer's work, a load-independent companion to FPS
    out = {"psnr": sum(ps) / len(ps), "ssim": sum(ss) / len(ss), "fps": len(views) / best,
           "pairs_per_view": sum(pairs) / len(pairs),
           "images": images}
    if lp:
        out["lpips"] = sum(lp) / len(lp)
    return out
