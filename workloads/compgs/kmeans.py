"""K-means vector quantization with straight-through gradients (CompGS, dissertation Sec. 3.1, Eq. 3.1-3.2).

Each quantized attribute (DC colour, SH, log-scale, raw quaternion) has its own codebook. The forward pass
uses the assigned centroid; the backward pass copies the gradient to the non-quantized parameter (STE), so
the Gaussians keep learning while the renderer only ever sees codebook values.
"""
from __future__ import annotations

import torch


def nearest_centroid(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the nearest centroid (squared L2) for each row of ``x`` (N, D) -> (N,) int64.

    Chunked so millions of Gaussians fit in memory; ties resolve to the lowest index like argmin.
    """
    if centroids.shape[0] == 0:
        raise ValueError("empty codebook: the codebook size must be at least 1")
    out = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    c2 = (centroids * centroids).sum(1)
    for s in range(0, x.shape[0], chunk):
        xb = x[s:s + chunk]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is constant per row so it does not change the argmin.
        d = c2[None, :] - 2.0 * xb @ centroids.T
        out[s:s + chunk] = d.argmin(1)
    return out


EMPTY_CLUSTER_RULES = ("zero", "keep")


def update_centroids(x: torch.Tensor, assign: torch.Tensor, centroids: torch.Tensor, empty: str = "zero") -> torch.Tensor:
    """Centroid k = mean of the rows assigned to k (Eq. 3.1's centre update).

    A centroid with no members becomes the zero vector with ``empty="zero"``, as compact3d does: its
    ``kmeans_quantize.py`` divides the member sum (0) by ``count + 1e-6`` in both ``cluster_assign`` (l.157)
    and ``update_centers`` (l.59). ``empty="keep"`` keeps the old value (a documented deviation). The
    official ``+1e-6`` in the denominator (a relative change of 1e-6 / count) is not reproduced."""
    if empty not in EMPTY_CLUSTER_RULES:
        raise ValueError(f"empty-cluster rule {empty!r} is unknown; use 'zero' (compact3d) or 'keep'")
    k = centroids.shape[0]
    sums = torch.zeros_like(centroids).index_add_(0, assign, x)
    counts = torch.bincount(assign, minlength=k).to(x.dtype)
    new = sums / counts.clamp_min(1)[:, None]
    if empty == "zero":
        return new  # empty rows: 0 / 1 = 0
    return torch.where(counts[:, None] > 0, new, centroids)


def kmeans(x: torch.Tensor, centroids: torch.Tensor, iters: int, empty: str = "zero"
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``iters`` Lloyd iterations from ``centroids``; returns (centroids, assignment).

    Same order as compact3d's ``cluster_assign`` (kmeans_quantize.py l.135-175): ``iters`` times (assign,
    update centres), then one final assignment to the updated centres."""
    x = x.detach()
    assign = nearest_centroid(x, centroids)
    for _ in range(iters):
        centroids = update_centroids(x, assign, centroids, empty)
        assign = nearest_centroid(x, centroids)
    return centroids, assign


def init_centroids(x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """K distinct random rows of ``x`` (repeated when there are fewer rows than codes)."""
    if k < 1:
        raise ValueError(f"codebook size must be >= 1, got {k}")
    n = x.shape[0]
    idx = torch.randperm(n, generator=generator)[:k] if n >= k else torch.randint(n, (k,), generator=generator)
    return x.detach()[idx.to(x.device)].clone()


def quantize_ste(x: torch.Tensor, centroids: torch.Tensor, assign: torch.Tensor) -> torch.Tensor:
    """Straight-through quantization: value = centroids[assign], d/dx = identity (Eq. 3.2)."""
    q = centroids[assign]
    return x + (q - x).detach()
