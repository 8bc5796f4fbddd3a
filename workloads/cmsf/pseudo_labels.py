"""CMSF_semi's pseudo-labeller (Sec. 2.1.3.3, App. A.1.5.3): an MLP on the normalised target embedding."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def build_pseudo_labeller(dim: int, num_classes: int) -> nn.Module:
    """(linear d -> 2d, BN, ReLU, linear 2d -> classes) on the l2-normalised d-dim target embedding u: the
    authors' ``--mlp_xent mlp`` head, ``get_mlp(proj_dim, 2 * proj_dim, ncls)`` (512 -> 1024 -> 1000 at paper
    scale; UCDvision/CMSF ``semi_supervised/pseudo_cmsf.py`` l.58-59, ``models/mlp_arch.py`` l.4-14). Built
    once and kept: every round trains it further."""
    return nn.Sequential(nn.Linear(dim, 2 * dim), nn.BatchNorm1d(2 * dim), nn.ReLU(inplace=True),
                         nn.Linear(2 * dim, num_classes))


def train_pseudo_labeller(clf: nn.Module, feats: torch.Tensor, labels: torch.Tensor, *, epochs: int = 10,
                          lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 1e-4, batch_size: int = 256,
                          milestones: tuple[int, ...] = (15, 30, 40), generator: torch.Generator) -> nn.Module:
    """One round of pseudo-labeller training on the cached embeddings of the labelled images, in place.

    A new SGD optimiser each round (lr 0.01, momentum 0.9, weight decay 1e-4, ×0.1 at ``milestones``), 10
    epochs of full batches of 256 in a fresh random order (``semi_supervised/pseudo_label_train.py`` l.33-99,
    ``run_semisup_fullprecision.sh``; App. A.1.5.3 agrees). Returned in eval mode, as CMSF training uses it."""
    clf.train()
    opt = torch.optim.SGD(clf.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(milestones))
    n = feats.shape[0]
    bs = min(batch_size, n)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator).to(feats.device)
        for s in range(0, n - bs + 1, bs):
            b = perm[s:s + bs]
            loss = F.cross_entropy(clf(feats[b]), labels[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return clf.eval()


@torch.no_grad()
def confident_pseudo_labels(clf: nn.Module, feats: torch.Tensor, threshold: float) -> torch.Tensor:
    """argmax class where its softmax probability >= ``threshold`` (0.85), else -1 (``pseudo_cmsf.py``
    l.141-190; -1 relaxes the constraint to plain MSF for that query)."""
    prob = F.softmax(clf(feats), dim=1)
    conf, pred = prob.max(1)
    return torch.where(conf >= threshold, pred, torch.full_like(pred, -1))
