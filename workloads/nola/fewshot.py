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


def kshot_per_class(labels: torch.Tensor, shots: int, seed: int) -> torch.Tensor:
    """Indices of the k-shot training set as the authors' ``vit/dataloader.py`` ``ImageFolderEx.__kshot__`` (l.17-35)
    draws it: for each class in turn the generator is re-seeded with ``seed`` (their ``--kshot_seed``, 0-3 in
    ``vit/run.sh``) and the first ``shots`` of ``randperm(n_class)`` over that class's samples, in data-set order, are
    kept. With the samples in ImageFolder order (by class, then path) this picks the same images as their code.

    Raises if a class has fewer than ``shots`` samples (their code would silently keep fewer)."""
    out = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        if idx.numel() < shots:
            raise ValueError(f"class {c} has {idx.numel()} training images, fewer than shots={shots}; lower `shots` "
                             "or check the data set's train split.")
        gen = torch.Generator().manual_seed(seed)
        out.append(idx[torch.randperm(idx.numel(), generator=gen)[:shots]])
    return torch.cat(out)
