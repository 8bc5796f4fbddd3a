"""Batched tensor augmentations for two-view SSL on small images (BYOL/MSF's recipe, scaled down).

Random resized crop, colour (brightness/contrast/saturation) jitter, random grayscale and
Gaussian blur, in pixel space [0, 1]. No horizontal flip for digits (not mirror-symmetric); the
workloads turn it on for natural images.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_resized_crop(x: torch.Tensor, scale: tuple[float, float], g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    area = torch.empty(n).uniform_(*scale, generator=g)
    logr = torch.empty(n).uniform_(-0.2877, 0.2877, generator=g)          # aspect ratio in [3/4, 4/3]
    ratio = logr.exp()
    sw = (area * ratio).sqrt().clamp(max=1.0)
    sh = (area / ratio).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, generator=g) * 2 - 1) * (1 - sw)
    cy = (torch.rand(n, generator=g) * 2 - 1) * (1 - sh)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sw, cx, sh, cy
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def colour_jitter(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    shape = (n, 1, 1, 1)
    b = 1 + (torch.rand(shape, generator=g) * 2 - 1).to(x) * 0.4 * strength
    c = 1 + (torch.rand(shape, generator=g) * 2 - 1).to(x) * 0.4 * strength
    s = 1 + (torch.rand(shape, generator=g) * 2 - 1).to(x) * 0.4 * strength
    x = x * b
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c + mean
    grey = x.mean(1, keepdim=True)
    x = (x - grey) * s + grey
    return x.clamp(0, 1)


def gaussian_blur(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    apply = torch.rand(x.shape[0], generator=g) < p
    if not apply.any():
        return x
    sigma = 0.1 + 1.9 * torch.rand(1, generator=g).item()
    r = 2
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k1 = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k1 = k1 / k1.sum()
    c = x.shape[1]
    kx = k1.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = k1.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    y = F.conv2d(F.pad(x[apply], (r, r, 0, 0), mode="reflect"), kx, groups=c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), ky, groups=c)
    out = x.clone()
    out[apply] = y
    return out


def two_view_augment(x: torch.Tensor, g: torch.Generator, *, strength: str = "strong", flip: bool = False,
                     crop: bool = True) -> torch.Tensor:
    """One random view per image (App. A.2.2.2; BYOL/MoCo-v2's recipe for CMSF). Both strengths: random
    resized crop with scale (0.2, 1) and, for natural images, horizontal flip. ``strong`` adds colour jitter
    (brightness/contrast/saturation 0.4) with p = 0.8, grayscale with p = 0.2 and Gaussian blur with p = 0.5.
    Hue jitter is left out: the mini data (digits) is grey. ``none``: identity. ``crop=False``: no crop (the small
    multi-crop views are cropped by ``small_crops``)."""
    if strength == "none":
        return x
    if strength not in ("weak", "strong"):
        raise ValueError(f"augmentation strength must be none, weak or strong, got {strength!r}")
    if crop:
        x = random_resized_crop(x, (0.2, 1.0), g)
    if flip:
        f = torch.rand(x.shape[0], generator=g) < 0.5
        x = torch.where(f.view(-1, 1, 1, 1).to(x.device), x.flip(3), x)
    if strength == "strong":
        jitter = torch.rand(x.shape[0], generator=g) < 0.8
        x = torch.where(jitter.view(-1, 1, 1, 1).to(x.device), colour_jitter(x, 1.0, g), x)
        grey = torch.rand(x.shape[0], generator=g) < 0.2
        x = torch.where(grey.view(-1, 1, 1, 1).to(x.device), x.mean(1, keepdim=True).expand_as(x), x)
        x = gaussian_blur(x, 0.5, g)
    return x


def small_crops(x: torch.Tensor, count: int, size: int, g: torch.Generator, *, strength: str = "strong",
                flip: bool = False, scale: tuple[float, float] = (0.05, 0.14)) -> list[torch.Tensor]:
    """The multi-crop variant's extra views (Sec. 2.1.4: "following SwAV, four additional crops of 96x96"): each a
    random resized crop of scale (0.05, 0.14) (SwAV's small-crop range; the dissertation gives only the size; the
    authors' code has no multi-crop, its README lists it as to do), resized to ``size`` px, then the view
    augmentation of ``two_view_augment`` without its own crop."""
    out = []
    for _ in range(count):
        v = random_resized_crop(x, scale, g)
        v = F.interpolate(v, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(two_view_augment(v, g, strength=strength, flip=flip, crop=False))
    return out
