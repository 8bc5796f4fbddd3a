"""Nearest neighbours with faiss (GPU index when faiss has GPUs, torch matmul+topk otherwise on CUDA),
k-NN classification with CompRess/SimReg weighted voting, and the frozen-feature linear probe."""
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


def knn_classify(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor, *, k: int,
                 num_classes: int, temperature: float = 0.07, weighted: bool = True,
                 backend: str = "auto") -> torch.Tensor:
    """k-NN predictions on cosine similarity; ``weighted`` votes with exp(sim/τ) (Wu et al. 2018, as in
    CompRess/SimReg's 20-NN); 1-NN is k=1."""
    sims, idx = knn_search(train_feats, test_feats, k, metric="cosine", backend=backend)
    labels = train_labels.to(idx.device)[idx]
    weights = torch.exp(sims / temperature) if weighted else torch.ones_like(sims)
    votes = torch.zeros(test_feats.shape[0], num_classes, device=idx.device)
    votes.scatter_add_(1, labels, weights.to(votes.dtype))
    return votes.argmax(dim=1)


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, *, k: int, num_classes: int, **kw) -> float:
    preds = knn_classify(train_feats, train_labels, test_feats, k=k, num_classes=num_classes, **kw)
    return 100.0 * (preds.cpu() == test_labels.cpu()).float().mean().item()


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                 test_labels: torch.Tensor, *, epochs: int = 40, lr: float = 0.01, momentum: float = 0.9,
                 batch_size: int = 256, weight_decay: float = 0.0, seed: int = 0) -> float:
    """Linear classifier on frozen features, l2-normalised then standardised with train statistics
    (SimReg's protocol: SGD, lr 0.01, momentum 0.9, 40 epochs, step decay ×0.1 at 15/30); top-1 accuracy (%)."""
    g = torch.Generator().manual_seed(seed)
    tr, te = F.normalize(train_feats.float().cpu(), dim=1), F.normalize(test_feats.float().cpu(), dim=1)
    mean, std = tr.mean(0, keepdim=True), tr.std(0, keepdim=True).clamp(min=1e-6)
    tr, te = (tr - mean) / std, (te - mean) / std
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    torch.manual_seed(seed)
    clf = torch.nn.Linear(tr.shape[1], num_classes)
    opt = torch.optim.SGD(clf.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(epochs * 15 / 40), int(epochs * 30 / 40)], 0.1)
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
        return 100.0 * (clf(te).argmax(1) == test_labels.cpu()).float().mean().item()
