"""Frozen random bases generated from a seed (NOLA Sec. 3.2.2, Eq. 3.2; PRANC).

A checkpoint stores only the seed; the bases are regenerated here. They are drawn on the CPU with
a seeded ``torch.Generator`` one chunk at a time (each chunk from its own derived seed) and moved
to the target device afterwards: the CPU and CUDA generators give different streams, so drawing
on CPU is what makes ΔW identical across devices, and chunking bounds the transient memory.
"""
from __future__ import annotations

import torch


def chunk_seed(seed: int, chunk_index: int) -> int:
    """Seed of one chunk: a fixed mix of the base seed and the chunk index (independent streams)."""
    return (int(seed) * 1_000_003 + 7919 * int(chunk_index) + 1) % (2**63 - 1)


def random_basis_chunk(seed: int, chunk_index: int, count: int, shape: tuple[int, ...], *,
                       dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """``count`` standard-normal basis elements of ``shape`` for chunk ``chunk_index`` of stream ``seed``."""
    gen = torch.Generator(device="cpu").manual_seed(chunk_seed(seed, chunk_index))
    out = torch.randn((count, *shape), generator=gen, dtype=torch.float32)
    return out.to(device=device, dtype=dtype)


def random_bases(seed: int, num: int, shape: tuple[int, ...], *, chunk: int = 64,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """All ``num`` bases (num, *shape), built chunk by chunk; element i is the same for any ``chunk``
    boundary only if ``chunk`` is unchanged, so ``chunk`` is part of a checkpoint's identity."""
    if num <= 0:
        raise ValueError(f"number of random bases must be positive, got {num}; set k/l (or the PRANC size) >= 1.")
    parts = [random_basis_chunk(seed, c, min(chunk, num - s), shape, dtype=dtype, device=device)
             for c, s in enumerate(range(0, num, chunk))]
    return torch.cat(parts, 0)


def combine(coefficients: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """Σᵢ cᵢ Bᵢ (Eq. 3.2): coefficients (n,), bases (n, *shape) -> (*shape)."""
    if coefficients.shape[0] != bases.shape[0]:
        raise ValueError(f"{coefficients.shape[0]} coefficients for {bases.shape[0]} bases")
    return torch.tensordot(coefficients, bases, dims=([0], [0]))
