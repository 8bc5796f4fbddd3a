"""CMSF_semi's pseudo-labeller (Sec. 2.1.3.3): a 2-layer MLP on cached labelled target features."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from workloads.cmsf.networks import mlp


def train_pseudo_labeller(feats: torch.Tensor, labels: torch.Tensor, num_classes: int, *, hidden: int,
                          epochs: int, lr: float, seed: int) -> nn.Module:
    """(linear, BN, ReLU, linear) trained with cross-entropy on frozen cached features; the dissertation
    retrains it in the middle and at the end of each epoch (2048x4096 -> 4096x512 at paper scale)."""
    torch.manual_seed(seed)
    clf = mlp([feats.shape[1], hidden, num_classes]).to(feats.device)
    opt = torch.optim.SGD(clf.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    bs = min(256, feats.shape[0])
    for _ in range(epochs):
        perm = torch.randperm(feats.shape[0], generator=g).to(feats.device)
        for s in range(0, feats.shape[0] - bs + 1, bs):
            b = perm[s:s + bs]
            loss = F.cross_entropy(clf(feats[b]), labels[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clf.eval()


@torch.no_grad()
def confident_pseudo_labels(clf: nn.Module, feats: torch.Tensor, threshold: float) -> torch.Tensor:
    """argmax class where its softmax probability >= ``threshold`` (0.85 in the dissertation), else -1
    (-1 relaxes the constraint to plain MSF for that query)."""
    prob = F.softmax(clf(feats), dim=1)
    conf, pred = prob.max(1)
    return torch.where(conf >= threshold, pred, torch.full_like(pred, -1))
