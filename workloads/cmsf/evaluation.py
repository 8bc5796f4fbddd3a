"""Frozen-feature evaluation: 1-NN, 20-NN and linear accuracy (the authors' eval_knn.py / eval_linear.py, Sec. 2.1.4, 2.2.4)."""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from workloads.common.knn import knn_accuracy, linear_probe
from workloads.common.training import evaluate, train_classifier


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
    """1-NN, 20-NN and linear-probe top-1 accuracy (%) on frozen features, the authors' protocol shared by CMSF
    and SimReg (``workloads.common.knn``): k-NN by plain majority vote over the l2-normalised features
    (``eval_knn.py``), the linear probe with SGD lr 0.01, 40 epochs, ×0.1 at 15 and 30, wd 1e-4 (``eval_linear.py``)."""
    (xtr, ytr), (xte, yte) = train, test
    out = {f"{prefix}nn1": knn_accuracy(xtr, ytr, xte, yte, k=1, num_classes=num_classes),
           f"{prefix}nn20": knn_accuracy(xtr, ytr, xte, yte, k=20, num_classes=num_classes)}
    if linear_epochs > 0:
        out[f"{prefix}linear"] = linear_probe(xtr, ytr, xte, yte, epochs=linear_epochs, seed=seed)
    return out


def balanced_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of a class-balanced ``fraction`` of the images, at least one per class (ImageNet's 1 % / 10 %
    subsets have ~13 / ~128 images per class; a plain random 1 % of a small data set could miss classes)."""
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in labels.unique():
        members = (labels == c).nonzero().flatten()
        n = max(1, int(round(fraction * members.numel())))
        keep.append(members[torch.randperm(members.numel(), generator=g)[:n]])
    return torch.cat(keep).sort().values


def lowshot_linear(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], *,
                   linear_epochs: int, seed: int, fractions=(0.01, 0.1)) -> dict[str, float]:
    """Linear top-1 (%) with only a labelled fraction of the training set (Table 2.4: 1 % and 10 % of ImageNet).
    Metric names: ``linear_1pct``, ``linear_10pct``."""
    (xtr, ytr), (xte, yte) = train, test
    out = {}
    for f in fractions:
        sel = balanced_subset(ytr, f, seed)
        out[f"linear_{round(100 * f)}pct"] = linear_probe(xtr[sel], ytr[sel], xte, yte, epochs=linear_epochs, seed=seed,
                                                          batch_size=min(256, max(8, sel.numel() // 4)))
    return out


class FineTuneNet(nn.Module):
    """Backbone + two-layer MLP classifier, fine-tuned end to end (App. A.1.5.3 "Fine-tuning", Table A.8)."""

    def __init__(self, backbone: nn.Module, dim: int, hidden: int, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def finetune_accuracy(backbone: nn.Module, dim: int, train: Dataset, labelled: torch.Tensor, test: Dataset, *,
                      num_classes: int, hidden: int, epochs: int, device: torch.device, seed: int,
                      lr: float = 0.005) -> float:
    """Top-1 (%) on ``test`` after fine-tuning a copy of ``backbone`` with a 2-layer MLP head on the labelled
    images only (Table A.8's "full network fine-tune" with 10 % of the labels; one stage, as the table's note says).

    App. A.1.5.3: SGD lr 0.005, momentum 0.9, weight decay 1e-4, batch 256, 20 epochs (x0.1 at epoch 15). The
    authors' repository has no fine-tuning script; this uses the shared classifier loop, which anneals the lr
    with a cosine instead of the single step (docs/FIDELITY.md)."""
    net = FineTuneNet(copy.deepcopy(backbone), dim, hidden, num_classes)
    subset = Subset(train, labelled.tolist())
    bs = min(256, len(subset))
    while bs > 2 and len(subset) % bs == 1:      # a last batch of one image breaks BatchNorm in training mode
        bs -= 1
    train_classifier(net, subset, epochs=epochs, batch_size=bs, lr=lr, weight_decay=1e-4, momentum=0.9,
                     device=device, seed=seed)
    return evaluate(net, test, device=device)["accuracy"]
