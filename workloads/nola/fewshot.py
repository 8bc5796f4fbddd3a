"""Few-shot training-set sampling (dissertation Tables 3.15/3.16: 5/10 shots, 4 sampled sets)."""
from __future__ import annotations

import torch


def sample_few_shot(labels: torch.Tensor, shots: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of ``shots`` examples per class (drawn with ``seed``) and of all the others.

    Raises if a class has fewer than ``shots`` examples, since the paper's k-shot sets are exact.
    """
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        if idx.numel() < shots:
            raise ValueError(f"class {c} has {idx.numel()} examples, fewer than shots={shots}; lower `shots` "
                             "or use a larger data set.")
        chosen.append(idx[torch.randperm(idx.numel(), generator=gen)[:shots]])
    train = torch.sort(torch.cat(chosen)).values
    mask = torch.ones(labels.numel(), dtype=torch.bool)
    mask[train] = False
    return train, torch.nonzero(mask).flatten()
