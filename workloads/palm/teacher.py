"""CoTTA's mean teacher and stochastic restore (Wang et al. 2022, Eq. 3 and Sec. 3.4), as pure tensor updates.

Official files: qinenergy/cotta cifar/cotta.py:49-53 and 118-127; the copy PALM's results use:
sarthaxxxxx/PALM classification/methods/cotta.py:14-17 and 76-83.
"""
from __future__ import annotations

from typing import Iterable

import torch


@torch.no_grad()
def ema_update(teacher: Iterable[torch.Tensor], student: Iterable[torch.Tensor], momentum: float) -> None:
    """θ'_t = m θ'_{t-1} + (1 - m) θ_t for every parameter pair, in place (cotta.py:14-17, m = 0.999)."""
    for t, s in zip(teacher, student):
        t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)


@torch.no_grad()
def stochastic_restore(param: torch.Tensor, source: torch.Tensor, mask: torch.Tensor) -> None:
    """θ = M ⊙ θ_0 + (1 - M) ⊙ θ in place, M a Bernoulli(p) mask (cotta.py:77-83: every weight AND bias)."""
    mask = mask.to(param.dtype)
    param.copy_(source.to(param.device, param.dtype) * mask + param * (1.0 - mask))


def restore_masks(shapes: Iterable[torch.Size], p: float, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """One Bernoulli(p) mask per tensor, drawn as the code draws it: torch.rand(shape) < p on the CPU."""
    return [torch.rand(shape, generator=generator) < p for shape in shapes]
