"""Subspace coverage (dissertation Fig. 3.7): how many dimensions do sampled ΔW span?

Draw many random coefficient vectors, form ΔW, and take the rank of the covariance of vec(ΔW).
PRANC with n bases spans exactly an n-dimensional linear space of d×d matrices (rank min(n, d²)).
NOLA's ΔW = (Σ βⱼ Bⱼ)(Σ αᵢ Aᵢ) is bilinear in (α, β): its samples span span{Bⱼ Aᵢ}, up to k·l
dimensions, although it has only k + l coefficients — the point of the figure.
"""
from __future__ import annotations

import torch

from workloads.nola.bases import combine, random_bases


def pranc_samples(d: int, n: int, samples: int, seed: int) -> torch.Tensor:
    """(samples, d²) vec(ΔW) with ΔW = Σᵢ αᵢ Vᵢ, n random d×d bases, α ~ N(0, I)."""
    bases = random_bases(seed, n, (d, d), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 10_000)
    coeffs = torch.randn(samples, n, generator=gen, dtype=torch.float64)
    return coeffs @ bases.reshape(n, -1)


def nola_samples(d: int, k: int, l: int, rank: int, samples: int, seed: int) -> torch.Tensor:
    """(samples, d²) vec(ΔW) with ΔW = (Σ βⱼ Bⱼ)(Σ αᵢ Aᵢ), Aᵢ r×d, Bⱼ d×r, α, β ~ N(0, I)."""
    a = random_bases(2 * seed, k, (rank, d), dtype=torch.float64)
    b = random_bases(2 * seed + 1, l, (d, rank), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 10_000)
    alpha = torch.randn(samples, k, generator=gen, dtype=torch.float64)
    beta = torch.randn(samples, l, generator=gen, dtype=torch.float64)
    out = [(combine(beta[s], b) @ combine(alpha[s], a)).reshape(-1) for s in range(samples)]
    return torch.stack(out)


def covariance_rank(samples: torch.Tensor, rtol: float = 1e-9) -> int:
    """Numerical rank of the sample covariance of the rows of ``samples`` (float64 SVD)."""
    centred = samples - samples.mean(0, keepdim=True)
    sv = torch.linalg.svdvals(centred.double())
    if sv.numel() == 0 or float(sv[0]) == 0.0:
        return 0
    return int((sv > rtol * sv[0]).sum())
