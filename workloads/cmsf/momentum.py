"""Momentum (EMA) target encoder update, shared by CMSF and SimReg's CompRess baselines."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def momentum_update(target: nn.Module, online: nn.Module, m: float, *, copy_buffers: bool = False) -> None:
    """theta_f <- m theta_f + (1 - m) theta_g (Sec. 2.1.3; m = 0.99 for CMSF).

    Only parameters are averaged, as in the authors' ``_momentum_update_target_encoder`` (UCDvision/CMSF
    ``self_supervised/train_cmsf_self.py`` l.130-132): the target network runs in train mode and keeps its
    own BatchNorm running statistics. ``copy_buffers=True`` copies the online buffers into the target after
    every update instead (the project's earlier behaviour; ``target_bn: copy``)."""
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum m must be in [0, 1], got {m}; CMSF uses 0.99 (Sec. 2.1.4)")
    for pt, po in zip(target.parameters(), online.parameters(), strict=True):
        pt.mul_(m).add_(po.detach(), alpha=1 - m)
    if copy_buffers:
        for bt, bo in zip(target.buffers(), online.buffers(), strict=True):
            bt.copy_(bo)
