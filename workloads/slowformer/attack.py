"""Optimising a universal patch or ℓ∞ perturbation on the training set against a frozen efficient ViT,
and measuring compute and accuracy with it pasted (dissertation Sec. 4.1.3.2, Tables 4.1–4.6)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from workloads.slowformer import patch as patch_ops


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
             progress: Callable[[int, float], None] | None = None) -> Adversary:
    """AdamW on the patch with the model frozen; after each step the values are projected to [0, 255] (or
    [−ε, ε]) and quantised to integer levels. The optimiser works on values/255 so that the paper's learning
    rates (0.2–0.8, for images in [0, 1]) move pixels by whole levels rather than being rounded away."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    scaled = (adversary.values.to(device) / 255.0).clone().requires_grad_(True)
    opt = torch.optim.AdamW([scaled], lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(adversary.seed)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(adversary.seed))
    it = _cycle(loader)
    for step in range(steps):
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        logits = model(adversary.apply(x, scaled * 255.0, gen))
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            v = scaled * 255.0
            v = patch_ops.project_linf(v, epsilon) if adversary.kind == "perturbation" else patch_ops.project_quantize(v)
            scaled.copy_(v / 255.0)
        if progress:
            progress(step, float(loss.detach()))
    adversary.values = (scaled.detach() * 255.0).round().cpu()
    return adversary


@torch.no_grad()
def measure(model: nn.Module, data: Dataset, *, device: torch.device, batch_size: int = 128,
            adversary: Adversary | None = None) -> dict[str, torch.Tensor | float]:
    """Top-1 (%), mean GMACs per image, mean tokens per layer and, for the visualisation, the token masks of
    the first batch. Every image is charged for exactly the tokens/heads/blocks it ran."""
    model.eval()
    gen = torch.Generator().manual_seed(10_007)
    correct, flops, tokens, n = 0, 0.0, None, 0
    first_masks = None
    for x, y in DataLoader(data, batch_size=batch_size):
        x, y = x.to(device), y.to(device)
        if adversary is not None:
            x = adversary.apply(x, generator=gen)
        logits = model(x)
        correct += int((logits.argmax(1) == y).sum())
        flops += float(model.flops().sum())
        t = model.last.tokens.double().sum(0).cpu()
        tokens = t if tokens is None else tokens + t
        if first_masks is None:
            first_masks = (x[:8].cpu(), model.last.token_masks[:, :8].cpu())
        n += len(y)
    return {"top1": 100.0 * correct / n, "gflops": flops / n / 2 / 1e9, "tokens": tokens / n, "example": first_masks}
