"""Optimising a universal patch or ℓ∞ perturbation on the training set against a frozen efficient ViT,
and measuring compute and accuracy with it pasted (dissertation Sec. 4.1.3.2, Tables 4.1–4.6)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from workloads.slowformer import patch as patch_ops
from workloads.slowformer.compute import adavit_paper_gflops, ats_paper_counts, avit_paper_counts, paper_convention_gflops
from workloads.slowformer.models import AdaViT, ATSViT


@dataclass
class Adversary:
    """A learned universal input change: a patch (C, s, s) in [0, 255] at a location, or an ℓ∞ perturbation."""

    values: torch.Tensor
    kind: str = "patch"          # patch | perturbation
    location: str = "top_left"   # top_left | random
    seed: int = 0

    def apply(self, images: torch.Tensor, values: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        v = self.values if values is None else values
        if self.kind == "perturbation":
            return patch_ops.apply_perturbation(images, v)
        if self.location == "top_left":
            return patch_ops.paste(images, v)
        b, _, h, w = images.shape
        s = v.shape[-1]
        top = torch.randint(0, h - s + 1, (b,), generator=generator).to(images.device)
        left = torch.randint(0, w - s + 1, (b,), generator=generator).to(images.device)
        return patch_ops.paste(images, v, top, left)


def _cycle(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def optimise(model: nn.Module, adversary: Adversary, data: Dataset, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
             *, steps: int, lr: float, batch_size: int, device: torch.device, epsilon: float = 0.0,
             progress: Callable[[int, float], None] | None = None, space: str = "normalized") -> Adversary:
    """AdamW (weight decay 0) on the patch with the model frozen (UCDvision/SlowFormer avit/main_act.py:457).

    ``space: normalized`` (official, patch_act.py): the optimised tensor is the patch in the model's normalised
    input space, projected and floored to 256 levels around every step, so lr 0.2 moves a pixel by about 0.2·σ_c
    (≈ 11 levels for ImageNet's σ). ``space: pixel`` (the dissertation's text): the tensor is values/255 in
    [0, 1], projected to [0, 255] and rounded, so lr 0.2 moves a pixel ≈ 51 levels. ℓ∞ perturbations always use
    the pixel space (values in [−ε, ε])."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    normalized = space == "normalized" and adversary.kind == "patch"
    if normalized:
        mean, std = model.normalize.mean.to(device), model.normalize.std.to(device)
        start = patch_ops.levels_to_normalized(adversary.values.to(device), mean, std)
        to_values = lambda t: patch_ops.normalized_to_pixel_values(t, mean, std)
        project = lambda t: patch_ops.levels_to_normalized(patch_ops.normalized_to_levels(t, mean, std), mean, std)
        levels = lambda t: patch_ops.normalized_to_levels(t, mean, std)
    else:
        start = adversary.values.to(device) / 255.0
        to_values = lambda t: t * 255.0
        bound = (lambda v: patch_ops.project_linf(v, epsilon)) if adversary.kind == "perturbation" else patch_ops.project_quantize
        project = lambda t: bound(t * 255.0) / 255.0
        levels = lambda t: (t * 255.0).round()
    param = project(start).clone().requires_grad_(True)
    opt = torch.optim.AdamW([param], lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(adversary.seed)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(adversary.seed))
    it = _cycle(loader)
    for step in range(steps):
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        logits = model(adversary.apply(x, to_values(param), gen))
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            param.copy_(project(param))
        if progress:
            progress(step, float(loss.detach()))
    adversary.values = levels(param.detach()).cpu()
    return adversary


@torch.no_grad()
def measure(model: nn.Module, data: Dataset, *, device: torch.device, batch_size: int = 128,
            adversary: Adversary | None = None) -> dict[str, torch.Tensor | float]:
    """Top-1 (%), mean GMACs per image (exact: every image is charged for exactly the tokens/heads/blocks it
    ran), mean tokens entering each layer (and leaving it, for ATS: the paper convention's inputs) and, for the
    visualisation, the token masks of the first batch."""
    model.eval()
    gen = torch.Generator().manual_seed(10_007)
    correct, flops, paper, tokens, tokens_out, n = 0, 0.0, 0.0, None, None, 0
    first_masks = None
    for x, y in DataLoader(data, batch_size=batch_size):
        x, y = x.to(device), y.to(device)
        if adversary is not None:
            x = adversary.apply(x, generator=gen)
        logits = model(x)
        correct += int((logits.argmax(1) == y).sum())
        flops += float(model.flops().sum())
        if hasattr(model, "paper_gflops"):
            paper += float(model.paper_gflops().sum())
        t = model.last.tokens.double().sum(0).cpu()
        tokens = t if tokens is None else tokens + t
        if model.last.tokens_out is not None:
            o = model.last.tokens_out.double().sum(0).cpu()
            tokens_out = o if tokens_out is None else tokens_out + o
        if first_masks is None:
            first_masks = (x[:8].cpu(), model.last.token_masks[:, :8].cpu())
        n += len(y)
    return {"top1": 100.0 * correct / n, "gflops": flops / n / 2 / 1e9, "tokens": tokens / n,
            "tokens_out": None if tokens_out is None else tokens_out / n,
            "gflops_paper_per_image": paper / n if hasattr(model, "paper_gflops") else None, "example": first_masks}


def paper_gflops(model: nn.Module, stats: dict) -> float:
    """GFLOPs of ``measure``'s statistics by the convention of the authors' code, which the published GFLOPs
    and Attack Success use: A-ViT rounded mean tokens per layer (engine_act.py:241-268), ATS truncated mean
    kept tokens per ATS block (AdaptiveTokenSampling/engine.py:224-250), both fed to the dense-block model of
    ``paper_convention_gflops``; AdaViT its per-image block table (``adavit_paper_gflops``)."""
    if isinstance(model, AdaViT):
        return float(stats["gflops_paper_per_image"])
    if isinstance(model, ATSViT):
        counts = ats_paper_counts(stats["tokens_out"].tolist(), model.ats_layers, model.shape.num_patches + 1)
    else:
        counts = avit_paper_counts(stats["tokens"].tolist())
    return paper_convention_gflops(counts, model.shape)


def dense_paper_gflops(model: nn.Module) -> float:
    """F_max by the same convention: every token through every block (1.258 DeiT-Tiny, 4.608 DeiT-Small:
    engine_act.py:279-283); for AdaViT its own table with every token, head and gate on (the table charges
    the decision layers, so the backbone's dense count would sit below the clean AdaViT)."""
    shape = model.shape
    full = [shape.num_patches + 1] * shape.depth
    if isinstance(model, AdaViT):
        ones = torch.ones(1, shape.depth, dtype=torch.long)
        return float(adavit_paper_gflops(ones * full[0], ones * shape.num_heads, torch.ones(1, shape.depth, 2,
                                                                                            dtype=torch.long), shape)[0])
    return paper_convention_gflops(full, shape)
