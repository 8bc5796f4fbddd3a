"""Turning a dense ViT into A-ViT / AdaViT by fine-tuning with their own losses, optionally with
SlowFormer's adversarial-training defense (dissertation Sec. 4.1.4, Table 4.6)."""
from __future__ import annotations

import math
import random
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from workloads.slowformer import adavit, halting, losses
from workloads.slowformer.attack import Adversary
from workloads.slowformer.patch import init_patch
from workloads.slowformer.models import AdaViT, AViT


def efficiency_loss(model: nn.Module, logits: torch.Tensor, labels: torch.Tensor, *, alpha_p: float, alpha_d: float,
                    prior: torch.Tensor | None, gammas: tuple[float, float, float],
                    prior_reading: str = "official") -> torch.Tensor:
    """The efficient model's training objective: A-ViT L_task + α_p L_ponder + α_d L_distr (Sec. 4.1.3.2) as
    NVlabs/A-ViT engine_act.py:72-89 trains it (ponder = mean ρ over all tokens; the α_d-weighted KL, divided by
    L, added only when positive; README: α_p = 5e-4, α_d = 1e-3); AdaViT L_ce + L_usage with budgets γ (Eq. 4.3)."""
    ce = F.cross_entropy(logits, labels)
    t = model.last
    if isinstance(model, AViT):
        distr = alpha_d * losses.avit_distribution_term(t, prior, model.eps, prior_reading)
        gated = halting.positive_part_gate(distr) if prior_reading == "official" else distr
        return ce + alpha_p * t.rho.mean() + gated
    if isinstance(model, AdaViT):
        p, h, b = t.decisions
        return ce + adavit.usage_loss(p, h, b, *gammas)
    raise TypeError(f"{type(model).__name__} has no training objective here (ATS is parameter-free)")


def finetune(model: nn.Module, data: Dataset, *, epochs: int, lr: float, batch_size: int, device: torch.device, seed: int,
             alpha_p: float, alpha_d: float, prior: torch.Tensor | None, gammas: tuple[float, float, float],
             defense: Callable[[nn.Module], Adversary] | None = None, pool_every: float = 0.2,
             decision_lr_scale: float = 1.0, progress: Callable[[int, int], None] | None = None,
             prior_reading: str = "official") -> nn.Module:
    """AdamW with a cosine schedule. With ``defense`` (a function optimising a fresh patch against the current
    model), a new patch is added to the pool every ``pool_every`` of an epoch and each iteration pastes one
    patch drawn uniformly from the pool (the growing-pool adversarial training of Sec. 4.1.4).

    AdaViT's decision networks are new and start at "keep everything" (bias 2) while the backbone is already
    trained: they get ``decision_lr_scale`` × lr, otherwise a short schedule never moves a decision across 0
    and the model stays dense (then Attack Success is undefined)."""
    model.to(device)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    params = [p for p in model.parameters()]
    decision = [p for n, p in model.named_parameters() if n.split(".")[0] in ("patch_dec", "head_dec", "block_dec")]
    ids = {id(p) for p in decision}
    groups = [{"params": [p for p in params if id(p) not in ids]}]
    if decision:
        groups.append({"params": decision, "lr": lr * decision_lr_scale, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.05)
    total = max(1, epochs * len(loader))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    every = max(1, int(round(pool_every * len(loader))))
    pool: list[Adversary] = []
    rng = random.Random(seed)
    for epoch in range(epochs):
        for i, (x, y) in enumerate(loader):
            if defense is not None and i % every == 0:
                pool.append(defense(model))
                for p in params:
                    p.requires_grad_(True)
            model.train()
            x, y = x.to(device), y.to(device)
            if pool:
                x = rng.choice(pool).apply(x)
            loss = efficiency_loss(model, model(x), y, alpha_p=alpha_p, alpha_d=alpha_d, prior=prior, gammas=gammas,
                                  prior_reading=prior_reading)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if progress:
            progress(epoch + 1, epochs)
    model.eval()
    model.defense_pool_size = len(pool)
    return model


def fresh_patch(size: int, channels: int, seed: int) -> torch.Tensor:
    return init_patch(size, channels, generator=torch.Generator().manual_seed(seed))
