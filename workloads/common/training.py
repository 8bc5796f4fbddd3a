"""The shared supervised loops: train a classifier, evaluate it, extract features."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from workloads.common.metrics import topk_errors


def make_loader(dataset: Dataset | DataLoader, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
    if isinstance(dataset, DataLoader):
        return dataset
    g = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=g if shuffle else None, num_workers=0)


def light_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random 4-pixel-padded crop (and no flip: digits are not mirror-symmetric), batched."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dx = torch.randint(0, 9, (n,), generator=generator)
    dy = torch.randint(0, 9, (n,), generator=generator)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h))
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w))
    idx = torch.arange(n).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[idx, rows.view(n, h, 1), cols.view(n, 1, w)].permute(0, 3, 1, 2).contiguous()


def train_classifier(model: nn.Module, dataset: Dataset, *, epochs: int, batch_size: int = 128, lr: float = 0.1,
                     optimizer: str = "sgd", weight_decay: float = 5e-4, momentum: float = 0.9,
                     device: torch.device | str = "cpu", seed: int = 0, augment: bool = False,
                     progress: Callable[[int, int], None] | None = None) -> nn.Module:
    """Cross-entropy training with a cosine schedule (per step), SGD+Nesterov or AdamW."""
    device = torch.device(device)
    model.to(device).train()
    loader = make_loader(dataset, batch_size, shuffle=True, seed=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True)
    elif optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {optimizer!r}")
    total = max(1, epochs * len(loader))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    g = torch.Generator().manual_seed(seed + 1)
    for epoch in range(epochs):
        for x, y in loader:
            if augment:
                x = light_augment(x, g)
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if progress:
            progress(epoch + 1, epochs)
    return model.eval()


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset | DataLoader, *, device: torch.device | str = "cpu",
             batch_size: int = 256) -> dict[str, float]:
    """Top-1/top-5 error (%), accuracy (%) and mean cross-entropy of ``model`` in eval mode."""
    device = torch.device(device)
    was = model.training
    model.eval().to(device)
    logits, targets = [], []
    for x, y in make_loader(data, batch_size):
        logits.append(model(x.to(device)).float().cpu())
        targets.append(y)
    model.train(was)
    lg, t = torch.cat(logits), torch.cat(targets)
    errs = topk_errors(lg, t, ks=(1, min(5, lg.shape[1])))
    return {"top1_error": errs[1], "top5_error": errs[min(5, lg.shape[1])], "accuracy": 100.0 - errs[1],
            "loss": float(F.cross_entropy(lg, t))}


@torch.no_grad()
def extract_features(model: nn.Module, data: Dataset | DataLoader, *, device: torch.device | str = "cpu",
                     batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features (``forward_features``) and labels for every sample."""
    device = torch.device(device)
    was = model.training
    model.eval().to(device)
    feats, labels = [], []
    for x, y in make_loader(data, batch_size):
        f = model.forward_features(x.to(device)) if hasattr(model, "forward_features") else model(x.to(device))
        feats.append(f.float().cpu())
        labels.append(y)
    model.train(was)
    return torch.cat(feats), torch.cat(labels)
