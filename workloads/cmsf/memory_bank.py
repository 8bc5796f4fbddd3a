"""FIFO memory bank M, with the auxiliary bank M' of CMSF_self beside it (Sec. 2.1.3, 2.1.3.1).

Every entry of M keeps the dataset index of its image and a label (true, noisy, coarse or pseudo).
For CMSF_self the bank also keeps, per image, its most recent embedding (the "cache", dataset-sized;
the paper keeps it in CPU memory) and, per entry of M, the embedding the *same image* had on its
previous visit (M'[j], a different augmentation one epoch older). M' is filled when an entry is
enqueued, from the cache, as in the authors' two-slot pool: so M' is right whatever |M| is relative
to the data set (an eviction-time cache would be two epochs stale once |M| >= the data set).
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
        # M' aligned with M (only when a per-image cache is asked for: CMSF_self)
        self.prev_feats = torch.zeros(0, dim, device=device)
        self.prev_ok = torch.zeros(0, dtype=torch.bool, device=device)
        # on the bank's device here: our data sets are small and the gather per step must be cheap
        self.cache = torch.zeros(num_images, dim, device=device)
        self.cached = torch.zeros(num_images, dtype=torch.bool, device=device)

    def __len__(self) -> int:
        return self.feats.shape[0]

    @torch.no_grad()
    def enqueue(self, feats: torch.Tensor, index: torch.Tensor, labels: torch.Tensor) -> None:
        """Append the newest entries and drop the oldest beyond ``size``. Each new entry's M' value is its
        image's previous embedding (if any); the cache then holds the new embedding."""
        feats, index = feats.detach(), index.to(self.index.device)
        self.feats = torch.cat([self.feats, feats])
        self.index = torch.cat([self.index, index])
        self.labels = torch.cat([self.labels, labels.to(self.labels.device)])
        if self.cache.shape[0]:
            self.prev_feats = torch.cat([self.prev_feats, self.cache[index]])
            self.prev_ok = torch.cat([self.prev_ok, self.cached[index]])
            self.cache[index] = feats
            self.cached[index] = True
        extra = self.feats.shape[0] - self.size
        if extra > 0:
            self.feats, self.index, self.labels = self.feats[extra:], self.index[extra:], self.labels[extra:]
            if self.cache.shape[0]:
                self.prev_feats, self.prev_ok = self.prev_feats[extra:], self.prev_ok[extra:]

    def previous(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """w_i: the embedding of images ``index`` from their previous visit, and whether there was one.
        Called before this step's enqueue, so the cache still holds the previous visit."""
        return self.cache[index], self.cached[index]

    def previous_bank(self) -> tuple[torch.Tensor, torch.Tensor]:
        """M' aligned with M: for each entry, its image's embedding from the visit before, and validity."""
        return self.prev_feats, self.prev_ok
