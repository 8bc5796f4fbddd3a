"""Frozen random bases generated from a seed (NOLA Sec. 3.2.2, Eq. 3.1; PRANC).

A checkpoint stores only the seed; the bases are regenerated here. They are drawn on the CPU with
a seeded ``torch.Generator`` one chunk at a time (each chunk from its own derived seed) and moved
to the target device afterwards: the CPU and CUDA generators give different streams, so drawing
on CPU is what makes ΔW identical across devices, and chunking bounds the transient memory.
(The authors draw with ``torch.manual_seed`` on the GPU, so our streams are not theirs bit for bit;
only the distributions match.)

Distributions:
  ``normal``   N(0, 1), PRANC's whole-network basis and Fig. 3.7's samples;
  ``uniform``  U(-1, 1) · ``scale``; NOLA's GPT-2/LLaMA code uses scale 1/√(number of bases)
               (UCDvision/NOLA gpt/examples/NLG/src/model_nola.py l.89-92, ``GenerateParams``);
  ``kaiming``  U(-b, b) with b = 1/√(numel of one basis), what ``nn.init.kaiming_uniform_(a=√5)`` gives a
               (num, d, r) tensor (fan_in = d·r) in NOLA's ViT code (vit/NOLA.py l.193-196, ``NOLA2``).
"""
from __future__ import annotations

import math

import torch

DISTRIBUTIONS = ("normal", "uniform", "kaiming")


def chunk_seed(seed: int, chunk_index: int) -> int:
    """Seed of one chunk: a fixed mix of the base seed and the chunk index (independent streams)."""
    return (int(seed) * 1_000_003 + 7919 * int(chunk_index) + 1) % (2**63 - 1)


def kaiming_bound(shape: tuple[int, ...]) -> float:
    """Bound of ``kaiming_uniform_(a=√5)`` for a stack of bases of ``shape``: gain √(2/6) · √3 / √fan_in
    = 1/√fan_in, with torch's fan_in of a (num, *shape) tensor = ∏ shape (vit/NOLA.py l.195-196)."""
    return 1.0 / math.sqrt(math.prod(shape))


def random_basis_chunk(seed: int, chunk_index: int, count: int, shape: tuple[int, ...], *,
                       distribution: str = "normal", scale: float = 1.0,
                       dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """``count`` basis elements of ``shape`` for chunk ``chunk_index`` of stream ``seed``: N(0,1) (``normal``) or
    U(-1,1) (``uniform``, ``kaiming``), times ``scale``."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown basis distribution {distribution!r}; use one of {DISTRIBUTIONS}.")
    gen = torch.Generator(device="cpu").manual_seed(chunk_seed(seed, chunk_index))
    if distribution == "normal":
        out = torch.randn((count, *shape), generator=gen, dtype=torch.float32)
    else:
        out = torch.rand((count, *shape), generator=gen, dtype=torch.float32).mul_(2.0).sub_(1.0)
    if scale != 1.0:
        out.mul_(scale)
    return out.to(device=device, dtype=dtype)


def random_bases(seed: int, num: int, shape: tuple[int, ...], *, chunk: int = 64, distribution: str = "normal",
                 scale: float = 1.0, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """All ``num`` bases (num, *shape), built chunk by chunk; element i is the same for any ``chunk``
    boundary only if ``chunk`` is unchanged, so ``chunk`` is part of a checkpoint's identity."""
    if num <= 0:
        raise ValueError(f"number of random bases must be positive, got {num}; set k/l (or the PRANC size) >= 1.")
    parts = [random_basis_chunk(seed, c, min(chunk, num - s), shape, distribution=distribution, scale=scale,
                                dtype=dtype, device=device)
             for c, s in enumerate(range(0, num, chunk))]
    return torch.cat(parts, 0)


def nola_bases(seed: int, num: int, shape: tuple[int, ...], init: str, *, chunk: int = 64) -> torch.Tensor:
    """NOLA's frozen bases for one factor, as the authors draw them for ``init``:
    ``offset`` (GPT-2/LLaMA code): U(-1, 1)/√num (model_nola.py l.91-92);
    ``vit`` (ViT code): kaiming-uniform, U(-b, b), b = 1/√∏shape (vit/NOLA.py l.195-196)."""
    if init == "offset":
        return random_bases(seed, num, shape, chunk=chunk, distribution="uniform", scale=1.0 / math.sqrt(num))
    if init == "vit":
        return random_bases(seed, num, shape, chunk=chunk, distribution="kaiming", scale=kaiming_bound(shape))
    raise ValueError(f"unknown NOLA init {init!r}; use 'offset' (GPT-2/LLaMA code) or 'vit' (ViT code).")


def combine(coefficients: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """Σᵢ cᵢ Bᵢ (Eq. 3.1): coefficients (n,), bases (n, *shape) -> (*shape)."""
    if coefficients.shape[0] != bases.shape[0]:
        raise ValueError(f"{coefficients.shape[0]} coefficients for {bases.shape[0]} bases")
    return torch.tensordot(coefficients, bases, dims=([0], [0]))
