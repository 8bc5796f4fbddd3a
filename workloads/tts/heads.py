"""Training the early exits on a frozen backbone (TTS paper Sec. 4.1: heads of the first N-1 columns,
cross-entropy on all classes, backbone fixed)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from workloads.common.training import make_loader


@torch.no_grad()
def pooled_column_features(model: nn.Module, dataset: Dataset, *, device: torch.device, batch_size: int = 256
                           ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Globally pooled top-level features of every column but the last, for every image, and the labels.

    A head is pool → LayerNorm → Linear, so with a frozen backbone the pooled features are all it ever
    sees: computing them once makes every head epoch a pass over small matrices."""
    model.eval().to(device)
    n_early = model.num_exits - 1
    feats: list[list[torch.Tensor]] = [[] for _ in range(n_early)]
    labels = []
    for x, y in make_loader(dataset, batch_size):
        tops = model.column_tops(x.to(device), upto=n_early - 1)
        for j, top in enumerate(tops):
            feats[j].append(model.cls_blocks[j].pool(top).cpu())
        labels.append(y)
    return [torch.cat(f) for f in feats], torch.cat(labels)


def train_early_heads(model: nn.Module, dataset: Dataset, *, epochs: int, lr: float, batch_size: int,
                      device: torch.device, seed: int, weight_decay: float = 0.05) -> dict[str, float]:
    """Fit the heads of exits 0..N-2 with cross-entropy (AdamW, cosine schedule); the backbone and the last
    head are not touched. Returns each early head's training accuracy (%)."""
    if epochs < 1:
        raise ValueError(f"training the early heads needs head_epochs >= 1, got {epochs}; or load them "
                         f"from heads_checkpoint")
    feats, labels = pooled_column_features(model, dataset, device=device)
    g = torch.Generator().manual_seed(seed)
    heads = [model.cls_blocks[j] for j in range(len(feats))]
    params = [p for h in heads for p in h.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    n = len(labels)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    labels_d = labels.to(device)
    feats_d = [f.to(device) for f in feats]
    for h in heads:
        h.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=g).to(device)
        for s in range(steps_per_epoch):
            idx = order[s * batch_size:(s + 1) * batch_size]
            loss = sum(F.cross_entropy(h.classifier(f[idx]), labels_d[idx]) for h, f in zip(heads, feats_d))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        return {f"head{j}_train_accuracy": 100.0 * (h.classifier(f).argmax(1) == labels_d).float().mean().item()
                for j, (h, f) in enumerate(zip(heads, feats_d))}
