"""Nearest neighbours with faiss (GPU index when faiss has GPUs, torch matmul+topk otherwise on CUDA),
k-NN classification by majority vote (CMSF/SimReg's eval_knn.py), and their frozen-feature linear probe."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _faiss():
    try:
        import faiss

        return faiss
    except ImportError:  # faiss is a dependency; this only guards broken installs
        return None


def _faiss_gpus(faiss) -> int:
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def knn_search(bank: torch.Tensor, queries: torch.Tensor, k: int, *, metric: str = "cosine",
               backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` neighbours of each query in ``bank``: (scores, indices), both (Q, k), best first.

    ``metric``: ``cosine`` (rows l2-normalised first), ``ip`` (inner product) or ``l2`` (scores are
    negative squared distances, so larger is nearer). ``backend``: ``auto`` | ``faiss`` | ``torch``."""
    if metric not in ("cosine", "ip", "l2"):
        raise ValueError(f"metric must be cosine, ip or l2, got {metric!r}")
    k = min(k, bank.shape[0])
    b, q = bank.detach().float(), queries.detach().float()
    if metric == "cosine":
        b, q = F.normalize(b, dim=1), F.normalize(q, dim=1)
    faiss = _faiss()
    use_torch = backend == "torch" or faiss is None or (backend == "auto" and b.is_cuda and _faiss_gpus(faiss) == 0)
    if use_torch:
        if metric == "l2":
            scores = -(torch.cdist(q, b) ** 2)
        else:
            scores = q @ b.T
        s, i = scores.topk(k, dim=1)
        return s, i
    device = q.device
    bn = np.ascontiguousarray(b.cpu().numpy(), dtype=np.float32)
    qn = np.ascontiguousarray(q.cpu().numpy(), dtype=np.float32)
    index = faiss.IndexFlatL2(bn.shape[1]) if metric == "l2" else faiss.IndexFlatIP(bn.shape[1])
    if device.type == "cuda" and _faiss_gpus(faiss) > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), device.index or 0, index)
    index.add(bn)
    s, i = index.search(qn, k)
    s = torch.from_numpy(s)
    if metric == "l2":
        s = -s
    return s.to(device), torch.from_numpy(i).long().to(device)


def majority_vote(neighbour_labels: torch.Tensor, num_classes: int, *, weights: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The class with the most votes among each row's neighbours (Q, k) -> (Q,).

    Plain counting as in CMSF's and SimReg's ``eval_knn.py`` (``Counter(targets_train[I[i]])``, UCDvision/CMSF
    ``self_supervised/eval_knn.py`` l.490-493, UCDvision/simreg ``eval_knn.py`` l.361-363). The official code
    shuffles the tied classes before ``max``, i.e. breaks ties uniformly at random; with a ``generator`` ties are
    broken the same way (a uniform draw in [0, 0.5) added to integer counts never overturns a strict majority),
    without one the lowest tied class wins. ``weights`` (Q, k) turns it into a weighted vote instead."""
    w = torch.ones(neighbour_labels.shape, dtype=torch.float64, device=neighbour_labels.device) if weights is None \
        else weights.to(torch.float64)
    votes = torch.zeros(neighbour_labels.shape[0], num_classes, dtype=torch.float64, device=neighbour_labels.device)
    votes.scatter_add_(1, neighbour_labels.long(), w)
    if generator is not None and weights is None:
        votes = votes + 0.5 * torch.rand(votes.shape, generator=generator, dtype=torch.float64).to(votes.device)
    return votes.argmax(dim=1)


def knn_classify(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor, *, k: int,
                 num_classes: int, weighted: bool = False, temperature: float = 0.07, tie_seed: int | None = 0,
                 backend: str = "auto") -> torch.Tensor:
    """k-NN predictions on l2-normalised features (1-NN is k=1).

    Default: the authors' protocol, a plain majority vote over the k nearest neighbours with random
    tie-breaking (seeded by ``tie_seed``; ``None``: lowest class). ``weighted=True`` votes with exp(sim/τ)
    instead (Wu et al. 2018's weighted k-NN, kept for comparison; not what CMSF/SimReg report)."""
    sims, idx = knn_search(train_feats, test_feats, k, metric="cosine", backend=backend)
    labels = train_labels.to(idx.device)[idx]
    weights = torch.exp(sims.double() / temperature) if weighted else None
    g = torch.Generator().manual_seed(tie_seed) if tie_seed is not None else None
    return majority_vote(labels, num_classes, weights=weights, generator=g)


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, *, k: int, num_classes: int, **kw) -> float:
    preds = knn_classify(train_feats, train_labels, test_feats, k=k, num_classes=num_classes, **kw)
    return 100.0 * (preds.cpu() == test_labels.cpu()).float().mean().item()


def probe_standardise(train: torch.Tensor, test: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear probe's fixed input normalisation: l2-normalise every feature, then subtract the training
    mean and divide by sqrt(var + eps) of the l2-normalised training features (the authors' ``Normalize()`` +
    ``FullBatchNorm(train_var, train_mean)``, UCDvision/CMSF ``self_supervised/eval_linear.py`` l.192-203 and
    l.261-273; ``torch.var_mean`` is the unbiased variance)."""
    tr, te = F.normalize(train, dim=1), F.normalize(test, dim=1)
    var, mean = torch.var_mean(tr, dim=0, keepdim=True)
    inv_std = 1.0 / torch.sqrt(var + eps)
    return (tr - mean) * inv_std, (te - mean) * inv_std


def probe_milestones(epochs: int) -> list[int]:
    """Epochs after which the probe's lr drops ×0.1: the authors' 15 and 30 of 40 (``--lr_schedule 15,30,40``,
    ``eval_linear.py`` l.62 and l.212-214; their 40 is the end of training), scaled to shorter probes."""
    return [int(epochs * 15 / 40), int(epochs * 30 / 40)]


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                 test_labels: torch.Tensor, *, epochs: int = 40, lr: float = 0.01, momentum: float = 0.9,
                 batch_size: int = 256, weight_decay: float = 1e-4, seed: int = 0,
                 mean_per_class: bool = False) -> float:
    """Linear classifier on frozen features, CMSF's and SimReg's ``eval_linear.py`` protocol: inputs through
    ``probe_standardise``; SGD lr 0.01, momentum 0.9, weight decay 1e-4, 40 epochs, ×0.1 after epochs 15 and 30
    (UCDvision/CMSF ``self_supervised/eval_linear.py`` l.34-63, UCDvision/simreg ``eval_linear.py`` l.35-66).
    Deviation: the authors feed freshly augmented images (random resized crop + flip) through the frozen
    backbone every epoch; here the features are extracted once, without augmentation. Top-1 accuracy (%), or with
    ``mean_per_class`` the mean over test classes of each class's accuracy (SimReg Table A.13's "Mean" measure)."""
    g = torch.Generator().manual_seed(seed)
    tr, te = probe_standardise(train_feats.float().cpu(), test_feats.float().cpu())
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    torch.manual_seed(seed)
    clf = torch.nn.Linear(tr.shape[1], num_classes)
    opt = torch.optim.SGD(clf.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, probe_milestones(epochs), 0.1)
    y = train_labels.cpu().long()
    for _ in range(epochs):
        perm = torch.randperm(len(tr), generator=g)
        for s in range(0, len(tr), batch_size):
            b = perm[s:s + batch_size]
            loss = F.cross_entropy(clf(tr[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    with torch.no_grad():
        pred = clf(te).argmax(1)
    if mean_per_class:
        return mean_class_accuracy(pred, test_labels.cpu())
    return 100.0 * (pred == test_labels.cpu()).float().mean().item()


def mean_class_accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over the classes present in ``labels`` of the fraction of that class predicted right (%): the
    "Mean" accuracy measure of Kornblith et al.'s transfer protocol (SimReg Table A.13)."""
    labels = labels.long()
    n = int(labels.max()) + 1
    correct = (pred.long() == labels).float()
    hits = torch.zeros(n).index_add_(0, labels, correct)
    counts = torch.bincount(labels, minlength=n).float()
    present = counts > 0
    return 100.0 * (hits[present] / counts[present]).mean().item()
