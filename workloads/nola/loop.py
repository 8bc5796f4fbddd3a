"""The optimisation loop shared by the few-shot and from-scratch experiments."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, param_groups: list[dict], steps: int,
        batch_size: int, seed: int, report: Callable[[int, float], None] | None = None) -> float:
    """AdamW on ``param_groups`` with a cosine schedule; returns the mean loss of the last 10% of steps."""
    opt = torch.optim.AdamW(param_groups, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    tail, losses = max(1, steps // 10), []
    model.train()
    for step in range(steps):
        idx = torch.randint(0, x.shape[0], (min(batch_size, x.shape[0]),), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if report is not None and (step % max(1, steps // 10) == 0 or step == steps - 1):
            report(step, losses[-1])
    return sum(losses[-tail:]) / len(losses[-tail:])


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy (%)."""
    model.eval()
    correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, x.shape[0], batch_size))
    return 100.0 * correct / max(1, x.shape[0])
