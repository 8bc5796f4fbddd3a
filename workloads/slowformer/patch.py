"""The universal adversarial patch and ℓ∞ perturbation of SlowFormer (dissertation Sec. 4.1.3.2).

The patch lives in [0, 255] pixel units; images are [0, 1] floats (normalisation is inside the model).
"""
from __future__ import annotations

import torch


def init_patch(size: int, channels: int = 3, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """i.i.d. uniform pixels over [0, 255] (the paper's initialisation and its Random Patch baseline)."""
    return torch.rand(channels, size, size, generator=generator) * 255.0


def project_quantize(patch: torch.Tensor) -> torch.Tensor:
    """Project onto [0, 255] and quantise to the 256 integer levels, as after every optimisation step."""
    return patch.clamp(0.0, 255.0).round()


def paste(images: torch.Tensor, patch: torch.Tensor, top: int | torch.Tensor = 0, left: int | torch.Tensor = 0) -> torch.Tensor:
    """Replace pixels of [0, 1] ``images`` (B, C, H, W) by ``patch``/255 at (top, left) — one location for the
    batch, or per-image locations given as int tensors (random-location variant). Differentiable in ``patch``."""
    b, _, h, w = images.shape
    s = patch.shape[-1]
    if isinstance(top, int) and isinstance(left, int):
        if top + s > h or left + s > w:
            raise ValueError(f"a {s}x{s} patch at ({top}, {left}) does not fit a {h}x{w} image")
        out = images.clone()
        out[:, :, top:top + s, left:left + s] = patch.unsqueeze(0).to(images) / 255.0
        return out
    rows = torch.arange(h, device=images.device).view(1, h, 1)
    cols = torch.arange(w, device=images.device).view(1, 1, w)
    top_t, left_t = torch.as_tensor(top).view(-1, 1, 1), torch.as_tensor(left).view(-1, 1, 1)
    inside = (rows >= top_t) & (rows < top_t + s) & (cols >= left_t) & (cols < left_t + s)
    # canvas: the patch placed at each image's location (gather by offsets)
    r_idx = (rows - top_t).clamp(0, s - 1).expand(b, h, w)
    c_idx = (cols - left_t).clamp(0, s - 1).expand(b, h, w)
    canvas = patch.to(images)[:, r_idx, c_idx].permute(1, 0, 2, 3) / 255.0
    return torch.where(inside.unsqueeze(1), canvas, images)


def project_linf(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Universal ℓ∞ perturbation (Table 4.5): clamp to [−ε, ε] (ε in /255 units) and quantise to integer levels."""
    return delta.clamp(-eps, eps).round()


def apply_perturbation(images: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """x + δ/255 clipped back to the valid image range."""
    return (images + delta.unsqueeze(0).to(images) / 255.0).clamp(0.0, 1.0)


def scaled_patch_size(paper_size: int, image_size: int, paper_image: int = 224) -> int:
    """Patch side with the same area fraction as ``paper_size`` on 224×224 (16/32/48/64 → 2/5/7/9 on 32)."""
    return max(1, round(paper_size * image_size / paper_image))


# Official patch (UCDvision/SlowFormer avit/patch_act.py:12-66, = ada_vit/patch.py): the parameter lives in the
# model's *normalised* input space, (x − μ)/σ per channel. ``values`` elsewhere stay 0..255 levels.
LEVEL_TOLERANCE = 1e-3  # in level units: a value on level k must not floor to k − 1 through float32 rounding


def _stats(mean: torch.Tensor, std: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return mean.reshape(-1, 1, 1).to(like), std.reshape(-1, 1, 1).to(like)


def init_patch_normalized(size: int, channels: int = 3, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``nn.Parameter(torch.rand(w, h, 3) − 0.5)`` (patch_act.py:26): i.i.d. U(−0.5, 0.5) in normalised units,
    here (C, s, s). About the middle grey ± 0.5σ in pixels, not U[0, 255] (the dissertation's text)."""
    return torch.rand(channels, size, size, generator=generator) - 0.5


def normalized_to_levels(p: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``Patch.project`` (patch_act.py:34-44): clamp to the normalised images of pixels 0 and 1, then floor to
    one of 256 levels: level = ⌊255·(p·σ + μ)⌋ (σ·p + μ is the pixel value in [0, 1]). Returns 0..255 levels."""
    m, s = _stats(mean, std, p)
    pixel = (p * s + m).clamp(0.0, 1.0)
    return torch.floor(pixel * 255.0 + LEVEL_TOLERANCE).clamp(0.0, 255.0)


def levels_to_normalized(levels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The normalised value of a 0..255 level: (level/255 − μ)/σ."""
    m, s = _stats(mean, std, levels)
    return (levels / 255.0 - m) / s


def normalized_to_pixel_values(p: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Differentiable 0..255 pixel values of a normalised patch, for pasting into [0, 1] images whose model
    normalises inside: pasting these gives the network exactly ``p`` (as the official pastes p itself)."""
    m, s = _stats(mean, std, p)
    return (p * s + m) * 255.0
