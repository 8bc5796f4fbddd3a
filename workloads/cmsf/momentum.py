"""Momentum (EMA) target encoder update, shared by CMSF and SimReg's CompRess baselines."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def momentum_update(target: nn.Module, online: nn.Module, m: float) -> None:
    """theta_f <- m theta_f + (1 - m) theta_g (Sec. 2.1.3; m = 0.99 for CMSF).

    Buffers (BatchNorm running statistics) are copied as in MoCo/BYOL: they are not parameters
    of the EMA and the target must see the same normalisation statistics as the online net."""
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum m must be in [0, 1], got {m}; CMSF uses 0.99 (Sec. 2.1.4)")
    for pt, po in zip(target.parameters(), online.parameters(), strict=True):
        pt.mul_(m).add_(po.detach(), alpha=1 - m)
    for bt, bo in zip(target.buffers(), online.buffers(), strict=True):
        bt.copy_(bo)
