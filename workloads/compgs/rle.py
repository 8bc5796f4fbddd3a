"""Run-length encoding of the sorted index column of the CompGS file (dissertation Sec. 3.1, storage).

Gaussians are sorted by one codebook index, so that column becomes a few (value, run) pairs.
"""
from __future__ import annotations

import torch


def rle_encode(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """1-D int tensor -> (run values, run lengths)."""
    if values.numel() == 0:
        return values.new_empty(0), values.new_empty(0)
    vals, counts = torch.unique_consecutive(values, return_counts=True)
    return vals, counts


def rle_decode(vals: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rle_encode``."""
    return torch.repeat_interleave(vals, counts)
