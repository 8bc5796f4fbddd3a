"""3DGS photometric loss L = (1-0.2) L1 + 0.2 D-SSIM and CompGS opacity regularisation (dissertation Sec. 3.1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LAMBDA_DSSIM = 0.2  # 3DGS weight of the D-SSIM term


def _gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM of images (C, H, W) in [0, 1], 11x11 Gaussian window sigma 1.5 (as 3DGS, zero padding)."""
    c = a.shape[0]
    w = _gaussian_window(dtype=a.dtype, device=a.device).expand(c, 1, 11, 11)
    conv = lambda t: F.conv2d(t[None], w, padding=5, groups=c)[0]  # noqa: E731
    mu_a, mu_b = conv(a), conv(b)
    var_a = conv(a * a) - mu_a**2
    var_b = conv(b * b) - mu_b**2
    cov = conv(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def photometric_loss(render: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(1 - 0.2) |I - I_gt|_1 + 0.2 (1 - SSIM(I, I_gt)) (3DGS Eq. 7)."""
    l1 = (render - target).abs().mean()
    return (1 - LAMBDA_DSSIM) * l1 + LAMBDA_DSSIM * (1 - ssim_map(render, target).mean())


def opacity_l1(opacity_logits: torch.Tensor) -> torch.Tensor:
    """sum_i sigma_i with sigma = sigmoid(logit): the CompGS regulariser, weighted by lambda_reg outside."""
    return torch.sigmoid(opacity_logits).sum()
