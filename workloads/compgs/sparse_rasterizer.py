"""Sparse pure-PyTorch Gaussian rasterizer: the same image as ``rasterizer.render`` at a fraction of the cost.

The dense reference evaluates every pixel against every Gaussian. Here each Gaussian only visits the pixels
of its bounding box, cut where its alpha falls below 1/255 (beyond that the dense renderer zeroes alpha too,
so both give the same image). Per-pixel front-to-back compositing C = sum_i c_i a_i prod_{j<i}(1 - a_j)
(dissertation Sec. 3.1) becomes a segmented exclusive cumulative sum of log(1 - a) over (pixel, depth)-sorted
pairs: vectorised and differentiable with autograd, O(pairs) instead of O(pixels x Gaussians).
"""
from __future__ import annotations

import torch

from workloads.compgs.geometry import covariance_3d, project_gaussians
from workloads.compgs.rasterizer import ALPHA_MAX, ALPHA_MIN
from workloads.compgs.sh import sh_to_rgb


def footprint_radius(cov2d: torch.Tensor, opacity: torch.Tensor) -> torch.Tensor:
    """Pixel radius beyond which o exp(-1/2 d^T Sigma^-1 d) < 1/255 (NaN-free; 0 for Gaussians never visible).

    d^T Sigma^-1 d >= |d|^2 / lambda_max, so |d| > sqrt(lambda_max * 2 ln(255 o)) implies alpha < 1/255.
    """
    a, b, c = cov2d[:, 0, 0], cov2d[:, 0, 1], cov2d[:, 1, 1]
    mid = 0.5 * (a + c)
    lam_max = mid + torch.sqrt((mid * mid - (a * c - b * b)).clamp_min(0.0))
    thr = 2.0 * torch.log((opacity / ALPHA_MIN).clamp_min(1.0))
    return torch.sqrt(lam_max.clamp_min(0.0) * thr)


def _pairs(mean2d, radius, w, h):
    """(gaussian id, pixel id) for every pixel inside each Gaussian's clipped bounding box."""
    x0 = torch.ceil(mean2d[:, 0] - radius).clamp(0, w).long()
    x1 = torch.floor(mean2d[:, 0] + radius).clamp(-1, w - 1).long()
    y0 = torch.ceil(mean2d[:, 1] - radius).clamp(0, h).long()
    y1 = torch.floor(mean2d[:, 1] + radius).clamp(-1, h - 1).long()
    wx, wy = (x1 - x0 + 1).clamp_min(0), (y1 - y0 + 1).clamp_min(0)
    cnt = wx * wy
    gid = torch.repeat_interleave(torch.arange(cnt.numel(), device=cnt.device), cnt)
    start = torch.cumsum(cnt, 0) - cnt
    local = torch.arange(gid.numel(), device=cnt.device) - start[gid]
    px = x0[gid] + local % wx[gid]
    py = y0[gid] + torch.div(local, wx[gid], rounding_mode="floor")
    return gid, py * w + px, px, py


def render_sparse(means, log_scales, quats, opacity_logits, sh, sh_degree, camera, background=None) -> dict:
    """Same inputs and outputs as ``rasterizer.render``: image (3, H, W), visible (G,), mean2d (G, 2)."""
    dev, dt = means.device, means.dtype
    bg = torch.zeros(3, device=dev, dtype=dt) if background is None else background.to(dev, dt)
    w2c = camera["world_to_cam"].to(dev, dt)
    mean2d, depth, cov2d = project_gaussians(means, covariance_3d(log_scales, quats), w2c, camera["fx"],
                                             camera["fy"], camera["cx"], camera["cy"])
    if mean2d.requires_grad:
        mean2d.retain_grad()
    h, w = camera["height"], camera["width"]
    opac_all = torch.sigmoid(opacity_logits)
    det = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] ** 2
    radius = footprint_radius(cov2d.detach(), opac_all.detach())
    visible = ((depth > 0.2) & (det > 0) & (radius > 0) & (mean2d[:, 0] + radius > -0.5)
               & (mean2d[:, 0] - radius < w - 0.5) & (mean2d[:, 1] + radius > -0.5)
               & (mean2d[:, 1] - radius < h - 0.5)).detach()
    idx = torch.nonzero(visible).squeeze(1)
    idx = idx[torch.argsort(depth.detach()[idx])]  # position in idx = depth rank
    gid, pix, px, py = _pairs(mean2d.detach()[idx], radius[idx], w, h)
    # stable sort by pixel keeps the depth order of the pairs inside each pixel
    pix, order = torch.sort(pix, stable=True)
    gid, px, py = gid[order], px[order], py[order]
    g = idx[gid]
    c2 = cov2d[g]
    dg = det[g]
    dx, dy = px.to(dt) - mean2d[g, 0], py.to(dt) - mean2d[g, 1]
    power = -0.5 * (c2[:, 1, 1] * dx * dx - 2 * c2[:, 0, 1] * dx * dy + c2[:, 0, 0] * dy * dy) / dg
    a = (opac_all[g] * torch.exp(power)).clamp(max=ALPHA_MAX)
    a = torch.where(a >= ALPHA_MIN, a, torch.zeros_like(a))
    log1m = torch.log1p(-a).double()  # float64: the global cumsum must not lose the per-pixel differences
    cs_prev = torch.cumsum(log1m, 0) - log1m
    seg_start = torch.ones_like(pix, dtype=torch.bool)
    seg_start[1:] = pix[1:] != pix[:-1]
    first = torch.cummax(torch.where(seg_start, torch.arange(pix.numel(), device=dev), 0), 0).values
    trans = torch.exp(cs_prev - cs_prev[first]).to(dt)
    cam_pos = torch.linalg.inv(w2c)[:3, 3]
    colors = sh_to_rgb(sh[idx], means[idx] - cam_pos, sh_degree)
    contrib = (a * trans)[:, None] * colors[gid]
    acc = torch.zeros(h * w, 3, device=dev, dtype=dt).index_add(0, pix, contrib)
    log_t = torch.zeros(h * w, device=dev, dtype=torch.float64).index_add(0, pix, log1m)
    image = acc + torch.exp(log_t).to(dt)[:, None] * bg
    return {"image": image.T.reshape(3, h, w), "visible": visible, "mean2d": mean2d, "n_pairs": int(pix.numel())}

