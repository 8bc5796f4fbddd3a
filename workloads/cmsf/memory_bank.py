"""A growing FIFO bank of embeddings, SimReg's CompRess anchor queues (Sec. 2.2.4.1).

CMSF keeps its bank as the authors do, a fixed-size ring buffer with random initial entries and the
per-image M' pool: ``workloads.cmsf.target_queue``. CompRess's ``SampleSimilarities`` queue starts empty
here (its first batch is its own bank) and drops the oldest entries beyond ``size``."""
from __future__ import annotations

import torch


class MemoryBank:
    def __init__(self, size: int, dim: int, *, device: torch.device | str = "cpu"):
        if size <= 0:
            raise ValueError(f"memory bank size must be positive, got {size}")
        self.size = size
        self.feats = torch.zeros(0, dim, device=device)
        self.index = torch.zeros(0, dtype=torch.long, device=device)
        self.labels = torch.zeros(0, dtype=torch.long, device=device)

    def __len__(self) -> int:
        return self.feats.shape[0]

    @torch.no_grad()
    def enqueue(self, feats: torch.Tensor, index: torch.Tensor, labels: torch.Tensor) -> None:
        """Append the newest entries and drop the oldest beyond ``size``."""
        self.feats = torch.cat([self.feats, feats.detach()])
        self.index = torch.cat([self.index, index.to(self.index.device)])
        self.labels = torch.cat([self.labels, labels.to(self.labels.device)])
        extra = self.feats.shape[0] - self.size
        if extra > 0:
            self.feats, self.index, self.labels = self.feats[extra:], self.index[extra:], self.labels[extra:]
