"""gsplat CUDA rasterizer backend (``gpu`` extra); same inputs and image as ``rasterizer.render``.

gsplat is imported lazily so CPU installs never need it; ``backend_available`` decides whether to use it.
"""
from __future__ import annotations

import importlib.util

import torch


def backend_available() -> bool:
    """True when CUDA is usable and the gsplat package is installed."""
    return torch.cuda.is_available() and importlib.util.find_spec("gsplat") is not None


def render_gsplat(means, log_scales, quats, opacity_logits, sh, sh_degree, camera, background=None) -> dict:
    """Render one view with ``gsplat.rasterization``; activations match the torch reference (exp scales,
    normalised wxyz quaternions, sigmoid opacity, SH + 0.5 clamped at 0, 0.3 px low-pass)."""
    if not backend_available():
        raise RuntimeError("the gsplat backend needs CUDA and the gsplat package (pip install '.[gpu]'); "
                           "use backend='torch' on this machine")
    from gsplat import rasterization

    dev = means.device
    k = torch.tensor([[camera["fx"], 0.0, camera["cx"] + 0.5],  # gsplat puts pixel centres at +0.5
                      [0.0, camera["fy"], camera["cy"] + 0.5], [0.0, 0.0, 1.0]], device=dev, dtype=torch.float32)
    n_coeffs = (sh_degree + 1) ** 2
    img, alpha, meta = rasterization(
        means.float(), torch.nn.functional.normalize(quats.float(), dim=-1), torch.exp(log_scales.float()),
        torch.sigmoid(opacity_logits.float()), sh[:, :n_coeffs].float(),
        camera["world_to_cam"].to(dev, torch.float32)[None], k[None], camera["width"], camera["height"],
        sh_degree=sh_degree, eps2d=0.3,
        # unpacked: means2d and radii stay (1, N, ·), indexed like our Gaussians (packed mode returns only
        # the visible ones), which densification's per-Gaussian screen-space gradients need
        packed=False)
    image = img[0].permute(2, 0, 1)
    if background is not None:
        # Composited here, as gsplat does internally (its background argument's expected shape differs between
        # its packed and unpacked modes across versions).
        image = image + (1.0 - alpha[0].permute(2, 0, 1)) * background.to(dev, torch.float32)[:, None, None]
    return {"image": image, "alpha": alpha[0, ..., 0], "meta": meta}
