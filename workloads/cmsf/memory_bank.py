"""FIFO memory bank M with, per entry, the dataset index and a label (Sec. 2.1.3).

Also holds the per-image cache of CMSF_self (Sec. 2.1.3.1): entries leaving M are written to the
cache under their image index, so the cache keeps each image's embedding from its previous visit
(one epoch old) and M'[j] = cache[index of M[j]] is a different augmentation of the same image.
"""
from __future__ import annotations

import torch


class MemoryBank:
    def __init__(self, size: int, dim: int, *, num_images: int = 0, device: torch.device | str = "cpu"):
        if size <= 0:
            raise ValueError(f"memory bank size must be positive, got {size}")
        self.size = size
        self.feats = torch.zeros(0, dim, device=device)
        self.index = torch.zeros(0, dtype=torch.long, device=device)
        self.labels = torch.zeros(0, dtype=torch.long, device=device)
        # the cache lives on the CPU at paper scale in the dissertation; here on the bank's device
        # because our data sets are small and the gather per step must be cheap
        self.cache = torch.zeros(num_images, dim, device=device)
        self.cached = torch.zeros(num_images, dtype=torch.bool, device=device)

    def __len__(self) -> int:
        return self.feats.shape[0]

    @torch.no_grad()
    def enqueue(self, feats: torch.Tensor, index: torch.Tensor, labels: torch.Tensor) -> None:
        """Append the newest entries and drop the oldest beyond ``size``; dropped ones go to the cache."""
        self.feats = torch.cat([self.feats, feats.detach()])
        self.index = torch.cat([self.index, index.to(self.index.device)])
        self.labels = torch.cat([self.labels, labels.to(self.labels.device)])
        extra = self.feats.shape[0] - self.size
        if extra > 0:
            if self.cache.shape[0]:
                self.cache[self.index[:extra]] = self.feats[:extra]
                self.cached[self.index[:extra]] = True
            self.feats, self.index, self.labels = self.feats[extra:], self.index[extra:], self.labels[extra:]

    def previous(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached embeddings of images ``index`` and whether each is cached yet."""
        return self.cache[index], self.cached[index]

    def previous_bank(self) -> tuple[torch.Tensor, torch.Tensor]:
        """M' aligned with M: cached embedding of the image of each entry, and its validity."""
        return self.cache[self.index], self.cached[self.index]
