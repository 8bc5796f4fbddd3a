"""The optimisation loop shared by the few-shot, from-scratch and GPT-2 E2E experiments."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F


def optimise(opt: torch.optim.Optimizer, sched, *, n: int, steps: int, batch_size: int, seed: int,
             batch_loss: Callable[[torch.Tensor], torch.Tensor],
             report: Callable[[int, float], None] | None = None) -> list[float]:
    """The step loop every NOLA experiment shares: draw a batch of example indices (seeded), take the loss of that
    batch, step the optimizer and the schedule; reports ~10 times. Returns the loss of every step."""
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    for step in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=gen)
        loss = batch_loss(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if report is not None and (step % max(1, steps // 10) == 0 or step == steps - 1):
            report(step, losses[-1])
    return losses


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, param_groups: list[dict], steps: int,
        batch_size: int, seed: int, report: Callable[[int, float], None] | None = None,
        label_smoothing: float = 0.0, lr_min: float = 0.0) -> float:
    """AdamW (weight decay 0, i.e. Adam) on ``param_groups`` with a cosine schedule from each group's lr down to
    ``lr_min`` over ``steps``, cross-entropy with ``label_smoothing``; returns the mean loss of the last 10% of steps.
    Few-shot passes the authors' 0.1 and 1e-6 (vit/train_timm.py l.286-288)."""
    opt = torch.optim.AdamW(param_groups, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=lr_min)
    model.train()
    losses = optimise(opt, sched, n=x.shape[0], steps=steps, batch_size=batch_size, seed=seed,
                      batch_loss=lambda idx: F.cross_entropy(model(x[idx]), y[idx], label_smoothing=label_smoothing),
                      report=report)
    tail = max(1, steps // 10)
    return sum(losses[-tail:]) / len(losses[-tail:])


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy (%)."""
    model.eval()
    correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, x.shape[0], batch_size))
    return 100.0 * correct / max(1, x.shape[0])
