"""Frozen-feature evaluation: 1-NN, 20-NN and linear accuracy (CompRess/SimReg protocol, Sec. 2.1.4, 2.2.4)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from workloads.common.knn import knn_accuracy, linear_probe


@torch.no_grad()
def embed(fn: nn.Module, data: Dataset, device: torch.device, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    was = fn.training
    fn.eval()
    feats, labels = [], []
    for x, y in DataLoader(data, batch_size=batch_size):
        feats.append(fn(x.to(device)).float().cpu())
        labels.append(y)
    fn.train(was)
    return torch.cat(feats), torch.cat(labels)


def knn_and_linear(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], *,
                   num_classes: int, linear_epochs: int, seed: int, prefix: str = "") -> dict[str, float]:
    """1-NN, 20-NN (weighted, tau = 0.07) and linear-probe top-1 accuracy (%)."""
    (xtr, ytr), (xte, yte) = train, test
    out = {f"{prefix}nn1": knn_accuracy(xtr, ytr, xte, yte, k=1, num_classes=num_classes),
           f"{prefix}nn20": knn_accuracy(xtr, ytr, xte, yte, k=20, num_classes=num_classes)}
    if linear_epochs > 0:
        out[f"{prefix}linear"] = linear_probe(xtr, ytr, xte, yte, epochs=linear_epochs, seed=seed)
    return out
