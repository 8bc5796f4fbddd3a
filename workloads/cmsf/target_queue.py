"""CMSF's memory bank M as the authors keep it: a fixed-size ring buffer of target embeddings, plus the
per-image two-slot pool from which the auxiliary bank M' is read (dissertation Sec. 2.1.3, 2.1.3.1;
UCDvision/CMSF ``self_supervised/train_cmsf_self.py`` l.118-127 and l.141-155).

Every position of M keeps the embedding, the dataset index of its image and a label (true, noisy, coarse
or pseudo; -1 = none). The pool holds each image's two latest embeddings; after a visit writes one slot
the image's slot pointer moves to the other, so ``pool[slot[i], i]`` is image i's embedding from the visit
*before* its latest one. That is w_i for a query (read after this step's write) and M'[j] for the image at
position j of M, exactly as the official ``targets_prime = pool[pool_qindex[index_queue], index_queue]``.

``init``: ``random`` (the official default: M starts as l2-normalised Gaussian vectors, the pool as raw
Gaussian vectors, so the first epoch's w_i and M' are random and its constrained set C_i is the query's own
entry plus k'-1 random positions) or ``empty`` (nothing is searchable until written; queries without a
previous visit relax C_i to M: the project's earlier reading, kept as an option).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

BANK_INITS = ("random", "empty")


class TargetQueue:
    def __init__(self, size: int, dim: int, *, num_images: int, init: str = "random", seed: int = 0,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        if size <= 0:
            raise ValueError(f"memory bank size must be positive, got {size}")
        if init not in BANK_INITS:
            raise ValueError(f"bank_init must be one of {', '.join(BANK_INITS)}, got {init!r}")
        g = torch.Generator().manual_seed(seed)
        self.size, self.random_init = size, init == "random"
        if self.random_init:
            feats = F.normalize(torch.randn(size, dim, generator=g), dim=1)
            pool = torch.randn(2, num_images, dim, generator=g)
            # M' of a never-written position: the official code reads image -1's pool there (a negative index
            # wraps to the last image), i.e. a random vector in the first epoch; here each position has its own
            blank_prime = torch.randn(size, dim, generator=g)
        else:
            feats, pool, blank_prime = torch.zeros(size, dim), torch.zeros(2, num_images, dim), torch.zeros(size, dim)
        self.feats, self.pool, self.blank_prime = (t.to(device=device, dtype=dtype) for t in (feats, pool, blank_prime))
        self.index = torch.full((size,), -1, dtype=torch.long, device=device)
        self.labels = torch.full((size,), -1, dtype=torch.long, device=device)
        self.written = torch.zeros(size, dtype=torch.bool, device=device)
        self.slot = torch.zeros(num_images, dtype=torch.long, device=device)
        self.visits = torch.zeros(num_images, dtype=torch.long, device=device)
        self.ptr = 0

    def __len__(self) -> int:
        return int(self.searchable().sum())

    def searchable(self) -> torch.Tensor:
        """Positions of M that a search may return: all of them with random init (as in the official queue),
        only written ones with empty init."""
        return torch.ones_like(self.written) if self.random_init else self.written

    @torch.no_grad()
    def enqueue(self, feats: torch.Tensor, index: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Write this step's targets at the pointer (overwriting the oldest), store them in the pool and move
        each image's slot pointer; returns the positions written (the queries' own entries in M)."""
        b = feats.shape[0]
        if b > self.size:
            raise ValueError(f"a batch of {b} does not fit a memory bank of {self.size}; raise memory_size "
                             f"or lower batch_size")
        index = index.to(self.index.device)
        pos = (self.ptr + torch.arange(b, device=self.index.device)) % self.size
        self.feats[pos] = feats.detach().to(self.feats.dtype)
        self.index[pos] = index
        self.labels[pos] = labels.to(self.labels.device).long()
        self.written[pos] = True
        self.pool[self.slot[index], index] = feats.detach().to(self.pool.dtype)
        self.slot[index] = 1 - self.slot[index]
        self.visits[index] += 1
        self.ptr = (self.ptr + b) % self.size
        return pos

    def previous(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """w_i after this step's write: the embedding of images ``index`` from the visit before the latest,
        and whether it is usable (always with random init; with empty init only from the 2nd visit on)."""
        w = self.pool[self.slot[index], index]
        ok = torch.ones_like(index, dtype=torch.bool) if self.random_init else self.visits[index] >= 2
        return w, ok

    def previous_bank(self) -> tuple[torch.Tensor, torch.Tensor]:
        """M' aligned with M and its usable positions (see ``previous``)."""
        img = self.index.clamp(min=0)
        prime = torch.where(self.written.view(-1, 1), self.pool[self.slot[img], img], self.blank_prime)
        ok = torch.ones_like(self.written) if self.random_init else self.written & (self.visits[img] >= 2)
        return prime, ok
