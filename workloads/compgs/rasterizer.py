"""Pure-PyTorch differentiable Gaussian rasterizer (the reference backend; CPU and GPU).

Colour of a pixel: C = sum_i c_i alpha_i prod_{j<i} (1 - alpha_j) over Gaussians sorted front to back
(dissertation Sec. 3.1, 3DGS Eq. 3), alpha_i = sigmoid(opacity_i) exp(-1/2 d^T Sigma2D^-1 d).
Pixels are processed in chunks against all visible Gaussians (dense, vectorised): fine for the small
images of mini scale; the gsplat backend is the fast path on CUDA.
"""
from __future__ import annotations

import torch

from workloads.compgs.geometry import covariance_3d, project_gaussians
from workloads.compgs.sh import sh_to_rgb

ALPHA_MIN = 1.0 / 255.0  # 3DGS skips contributions below this (they do not change an 8-bit image)
ALPHA_MAX = 0.99  # 3DGS clamp: keeps transmittance and its gradient finite


def composite(colors: torch.Tensor, alphas: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Front-to-back alpha compositing; colors (G, 3), alphas (P, G) sorted by depth -> (P, 3).

    T_i = prod_{j<i}(1 - alpha_j); C = sum_i c_i alpha_i T_i + T_final * background.
    """
    one_minus = 1.0 - alphas
    trans = torch.cumprod(torch.cat([torch.ones_like(alphas[:, :1]), one_minus], 1), 1)
    weights = alphas * trans[:, :-1]
    return weights @ colors + trans[:, -1:] * background


def gaussian_alphas(pix: torch.Tensor, mean2d: torch.Tensor, conic: torch.Tensor, opacity: torch.Tensor):
    """alpha (P, G) = min(0.99, o exp(-1/2 d^T conic d)), zeroed below 1/255; conic = inverse 2D covariance."""
    d = pix[:, None, :] - mean2d[None, :, :]
    power = -0.5 * (conic[:, 0, 0] * d[..., 0] ** 2 + 2 * conic[:, 0, 1] * d[..., 0] * d[..., 1]
                    + conic[:, 1, 1] * d[..., 1] ** 2)
    a = (opacity[None, :] * torch.exp(power)).clamp(max=ALPHA_MAX)
    return torch.where(a >= ALPHA_MIN, a, torch.zeros_like(a))


def render(means, log_scales, quats, opacity_logits, sh, sh_degree, camera, background=None,
           pixel_chunk: int = 4096) -> dict:
    """Render one view. ``camera`` has world_to_cam (4x4), fx, fy, cx, cy, width, height.

    Returns dict(image (3, H, W), visible (G,) bool, mean2d (G, 2) with retained grad for densification).
    """
    dev, dt = means.device, means.dtype
    bg = torch.zeros(3, device=dev, dtype=dt) if background is None else background.to(dev, dt)
    cov3d = covariance_3d(log_scales, quats)
    w2c = camera["world_to_cam"].to(dev, dt)
    mean2d, depth, cov2d = project_gaussians(means, cov3d, w2c, camera["fx"], camera["fy"], camera["cx"], camera["cy"])
    if mean2d.requires_grad:
        mean2d.retain_grad()
    h, w = camera["height"], camera["width"]
    det = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] ** 2
    # 3-sigma screen extent, as the CUDA rasterizer, to cull Gaussians that touch no pixel.
    mid = 0.5 * (cov2d[:, 0, 0] + cov2d[:, 1, 1])
    radius = 3.0 * torch.sqrt(mid + torch.sqrt((mid * mid - det).clamp_min(0.1)))
    visible = ((depth > 0.2) & (det > 0) & (mean2d[:, 0] + radius > 0) & (mean2d[:, 0] - radius < w)
               & (mean2d[:, 1] + radius > 0) & (mean2d[:, 1] - radius < h)).detach()
    idx = torch.nonzero(visible).squeeze(1)
    idx = idx[torch.argsort(depth.detach()[idx])]
    cam_pos = torch.linalg.inv(w2c)[:3, 3]
    colors = sh_to_rgb(sh[idx], means[idx] - cam_pos, sh_degree)
    c2 = cov2d[idx]
    conic = torch.stack([c2[:, 1, 1], -c2[:, 0, 1], -c2[:, 1, 0], c2[:, 0, 0]], -1).reshape(-1, 2, 2) / det[idx, None, None]
    opac = torch.sigmoid(opacity_logits[idx])
    ys, xs = torch.meshgrid(torch.arange(h, device=dev, dtype=dt), torch.arange(w, device=dev, dtype=dt), indexing="ij")
    pix = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)  # pixel centres at integer coords, as 3DGS
    out = []
    for s in range(0, pix.shape[0], pixel_chunk):
        a = gaussian_alphas(pix[s:s + pixel_chunk], mean2d[idx], conic, opac)
        out.append(composite(colors, a, bg))
    image = torch.cat(out, 0).T.reshape(3, h, w)
    return {"image": image, "visible": visible, "mean2d": mean2d}
