"""CMSF_semi's pseudo-labeller (Sec. 2.1.3.3, App. A.1.5.3): an MLP on the normalised target embedding."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


PSEUDO_LABELLERS = ("mlp2", "mlp3", "linear", "knn")


class KnnPseudoLabeller(nn.Module):
    """Table A.7's k-NN classifier: the vote shares of the ``k`` nearest cached labelled embeddings (cosine) as
    class probabilities. The authors' code has no k-NN labeller (``--mlp_xent`` offers linear / mlp / mlp_3l), and
    the text gives no k: 20, the k of the 20-NN evaluation. ``forward`` returns log vote shares, so the softmax
    that ``confident_pseudo_labels`` applies gives the shares back."""

    def __init__(self, num_classes: int, k: int = 20):
        super().__init__()
        self.num_classes, self.k = num_classes, k
        self.register_buffer("feats", torch.zeros(0))
        self.register_buffer("labels", torch.zeros(0, dtype=torch.long))

    def fit(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        self.feats, self.labels = F.normalize(feats.detach(), dim=1), labels.detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.feats.numel() == 0:                  # before the first round: uniform, never confident
            return torch.zeros(x.shape[0], self.num_classes, device=x.device)
        sims = F.normalize(x, dim=1) @ self.feats.T
        nearest = sims.topk(min(self.k, self.feats.shape[0]), dim=1).indices
        votes = F.one_hot(self.labels[nearest], self.num_classes).sum(1).to(x.dtype)
        return (votes / votes.sum(1, keepdim=True)).clamp(min=1e-12).log()


def build_pseudo_labeller(dim: int, num_classes: int, kind: str = "mlp2", knn_k: int = 20) -> nn.Module:
    """The pseudo-labeller on the l2-normalised d-dim target embedding u (Table A.7). ``mlp2`` (default):
    (linear d -> 2d, BN, ReLU, linear 2d -> classes), the authors' ``--mlp_xent mlp`` head,
    ``get_mlp(proj_dim, 2 * proj_dim, ncls)`` (512 -> 1024 -> 1000 at paper scale; UCDvision/CMSF
    ``semi_supervised/pseudo_cmsf.py`` l.52-59, ``models/mlp_arch.py`` l.4-14); ``mlp3``: ``get_mlp_3l`` (d -> 2d
    -> 2d -> classes, BN + ReLU after each hidden layer); ``linear``: one linear layer; ``knn``:
    ``KnnPseudoLabeller``. Built once and kept: every round trains it further."""
    if kind == "mlp2":
        return nn.Sequential(nn.Linear(dim, 2 * dim), nn.BatchNorm1d(2 * dim), nn.ReLU(inplace=True),
                             nn.Linear(2 * dim, num_classes))
    if kind == "mlp3":
        return nn.Sequential(nn.Linear(dim, 2 * dim), nn.BatchNorm1d(2 * dim), nn.ReLU(inplace=True),
                             nn.Linear(2 * dim, 2 * dim), nn.BatchNorm1d(2 * dim), nn.ReLU(inplace=True),
                             nn.Linear(2 * dim, num_classes))
    if kind == "linear":
        return nn.Sequential(nn.Linear(dim, num_classes))
    if kind == "knn":
        return KnnPseudoLabeller(num_classes, knn_k)
    raise ValueError(f"pseudo_classifier must be one of {', '.join(PSEUDO_LABELLERS)} (Table A.7), got {kind!r}.")


def train_pseudo_labeller(clf: nn.Module, feats: torch.Tensor, labels: torch.Tensor, *, epochs: int = 10,
                          lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 1e-4, batch_size: int = 256,
                          milestones: tuple[int, ...] = (15, 30, 40), generator: torch.Generator) -> nn.Module:
    """One round of pseudo-labeller training on the cached embeddings of the labelled images, in place.

    A new SGD optimiser each round (lr 0.01, momentum 0.9, weight decay 1e-4, ×0.1 at ``milestones``), 10
    epochs of full batches of 256 in a fresh random order (``semi_supervised/pseudo_label_train.py`` l.33-99,
    ``run_semisup_fullprecision.sh``; App. A.1.5.3 agrees). Returned in eval mode, as CMSF training uses it.
    A k-NN labeller has nothing to train: it stores the embeddings."""
    if isinstance(clf, KnnPseudoLabeller):
        clf.fit(feats, labels)
        return clf.eval()
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
