"""AdaContrast's views of a test batch: test, weak and strong ("twss"), on [0, 1] tensors, one draw per sample.

They follow what the PALM benchmark feeds AdaContrast (sarthaxxxxx/PALM classification/datasets/data_loading.py:33-39:
``get_augmentation_versions("twss", "moco-v2-light", res, res)``; augmentations/transforms_adacontrast.py:29-111):
test = Resize + CenterCrop to the stream's own size (the identity), weak = "plain" = RandomCrop of the full size (the
identity) + horizontal flip, strong = "moco-v2-light" = ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale with
p 0.2, Gaussian blur σ ∈ [0.1, 2] with p 0.5, horizontal flip. The code draws these per image (a Dataset transform);
so do we, per sample of the batch tensor. Two differences from the PIL pipeline, both small: no 8-bit quantisation
of the CIFAR arrays, and a true reflect-padded Gaussian (one radius ⌈3·max σ⌉ per batch) instead of PIL's box-blur
approximation (docs/FIDELITY.md (palm)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

JITTER = (0.4, 0.4, 0.4, 0.1)   # brightness, contrast, saturation, hue (transforms_adacontrast.py:48)
P_JITTER, P_GRAY, P_BLUR = 0.8, 0.2, 0.5
BLUR_SIGMA = (0.1, 2.0)          # GaussianBlur([0.1, 2.0]) of SimCLR/MoCo-v2 (transforms_adacontrast.py:18-26)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.empty(n, dtype=torch.float64).uniform_(lo, hi, generator=g)


def _coins(n: int, p: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g) < p


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma (PIL's "L" conversion, torchvision's rgb_to_grayscale), (B, 1, H, W)."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(dim=1)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = factor.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)  # draws are made on the CPU generator
    return (f * x + (1 - f) * other).clamp(0, 1)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """torchvision's adjust_hue (RGB → HSV, h + shift mod 1, → RGB; PIL's conversion) with one shift per image."""
    r, g, b = x.unbind(dim=1)
    maxc, minc = x.amax(dim=1), x.amin(dim=1)
    eq = maxc == minc
    span = maxc - minc
    sat = span / torch.where(eq, torch.ones_like(maxc), maxc)
    div = torch.where(eq, torch.ones_like(span), span)
    rc, gc, bc = (maxc - r) / div, (maxc - g) / div, (maxc - b) / div
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    hue = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    hue = torch.remainder(hue + shift.to(device=x.device, dtype=x.dtype).view(-1, 1, 1), 1.0)
    h6 = hue * 6.0
    i = torch.floor(h6)
    f = h6 - i
    i = i.to(torch.int64) % 6
    p = (maxc * (1.0 - sat)).clamp(0, 1)
    q = (maxc * (1.0 - sat * f)).clamp(0, 1)
    t = (maxc * (1.0 - sat * (1.0 - f))).clamp(0, 1)
    v = maxc
    table = torch.stack([torch.stack(c, dim=1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
                                                         (v, p, q))])  # (6, n, 3, H, W)
    return table.gather(0, i.unsqueeze(0).unsqueeze(2).expand(1, -1, 3, -1, -1)).squeeze(0)


def color_jitter(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    """torchvision ColorJitter(0.4, 0.4, 0.4, 0.1) on a batch, every image with its own factors (U[0.6, 1.4], hue
    U[-0.1, 0.1]) and its own random order of the four operations (torch.randperm(4) per image)."""
    n, colour = len(x), x.shape[1] == 3
    b, c, s, h = JITTER
    factors = torch.stack([_uniform(n, 1 - b, 1 + b, g), _uniform(n, 1 - c, 1 + c, g),
                           _uniform(n, 1 - s, 1 + s, g), _uniform(n, -h, h, g)])
    order = torch.stack([torch.randperm(4, generator=g) for _ in range(n)])  # (n, 4)
    x = x.clone()
    for pos in range(4):
        for op in range(4):
            idx = (order[:, pos] == op).nonzero().flatten()
            if not len(idx) or (op >= 2 and not colour):
                continue
            sub, f = x[idx], factors[op, idx]
            if op == 0:
                sub = _blend(sub, torch.zeros_like(sub), f)
            elif op == 1:
                sub = _blend(sub, _gray(sub).mean(dim=(1, 2, 3), keepdim=True).expand_as(sub), f)
            elif op == 2:
                sub = _blend(sub, _gray(sub).expand_as(sub), f)
            else:
                sub = adjust_hue(sub, f)
            x[idx] = sub
    return x


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur of standard deviation σ_i (PIL's ImageFilter.GaussianBlur(σ)): one separable kernel
    of radius ⌈3·max σ⌉ for the batch (wider than each image's 3σ, so every kernel is a full Gaussian), reflect
    padding."""
    n, ch, hgt, wid = x.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    radius = min(radius, hgt - 1, wid - 1)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t.view(1, -1) / sigma.view(-1, 1)) ** 2)
    k = (k / k.sum(dim=1, keepdim=True)).to(x.dtype).to(x.device).repeat_interleave(ch, dim=0)  # (n*ch, 2r+1)
    y = F.pad(x.reshape(1, n * ch, hgt, wid), [radius] * 4, mode="reflect")
    y = F.conv2d(y, k.view(n * ch, 1, 1, -1), groups=n * ch)
    y = F.conv2d(y, k.view(n * ch, 1, -1, 1), groups=n * ch)
    return y.view(n, ch, hgt, wid)


def strong_view(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    """"moco-v2-light" on a (B, C, H, W) batch in [0, 1], every image with its own draws."""
    n = len(x)
    jitter = _coins(n, P_JITTER, g)
    if jitter.any():
        x = x.clone()
        x[jitter] = color_jitter(x[jitter], g)
    gray = _coins(n, P_GRAY, g) & (x.shape[1] == 3)
    if gray.any():
        x = x.clone()
        x[gray] = _gray(x[gray]).expand(-1, 3, -1, -1)
    blur, sigma = _coins(n, P_BLUR, g), _uniform(n, *BLUR_SIGMA, g)
    if blur.any():
        x = x.clone()
        x[blur] = gaussian_blur(x[blur], sigma[blur])
    return weak_view(x, g).clamp(0, 1)


def weak_view(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    """"plain": RandomCrop of the full size (no padding: the identity) then a horizontal flip with p 0.5 per image."""
    flip = _coins(len(x), 0.5, g).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


class View:
    """A view function bound to a generator (``view(x)`` for the adapter)."""

    def __init__(self, view, generator: torch.Generator | None = None):
        self.view, self.generator = view, generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.view(x, self.generator)
