"""CompGS quantizer: one K-means codebook per attribute and the paper's update schedule (Sec. 3.1, impl. details).

From ``vq_start`` on, every training iteration renders with quantized attributes (STE) and the centroids are
refreshed from the non-quantized parameters with the current assignment; every ``freq`` iterations until
``assign_end`` the assignment is recomputed with ``iters`` K-means iterations; afterwards it stays fixed.
Paper: vq_start 20K, assign_end 25K, total 30K, freq 100, iters 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from workloads.compgs.kmeans import init_centroids, kmeans, nearest_centroid, quantize_ste, update_centroids


@dataclass
class VQSchedule:
    vq_start: int
    assign_end: int
    freq: int
    iters: int

    def __post_init__(self):
        if self.freq < 1 or self.iters < 0 or self.assign_end < self.vq_start:
            raise ValueError(
                f"invalid VQ schedule {self}: need freq >= 1, iters >= 0 and vq_start <= assign_end "
                "(paper: vq_start=20000, assign_end=25000, freq=100, iters=1)")

    def quantize_now(self, it: int) -> bool:
        return it >= self.vq_start

    def reassign_now(self, it: int) -> bool:
        return self.vq_start <= it <= self.assign_end and (it - self.vq_start) % self.freq == 0


@dataclass
class AttributeCodebook:
    """Codebook of one attribute (e.g. ``sh`` flattened to 45 values) with its current assignment."""
    size: int
    centroids: torch.Tensor | None = None
    assign: torch.Tensor | None = None
    generator: torch.Generator = field(default_factory=torch.Generator)
    frozen: bool = False  # Fig. 3.5 shared codebook: centroids fixed, only assignments are learned
    empty: str = "zero"  # a centroid left without members: "zero" (compact3d) or "keep" its old value

    def step(self, x: torch.Tensor, it: int, sched: VQSchedule) -> torch.Tensor:
        """Quantized view of ``x`` (N, D) for iteration ``it``; updates codebook/assignment per the schedule."""
        if not sched.quantize_now(it):
            return x
        flat = x.detach()
        if self.frozen:
            if self.assign is None or self.assign.shape[0] != x.shape[0] or sched.reassign_now(it):
                self.assign = nearest_centroid(flat, self.centroids)
            return quantize_ste(x, self.centroids, self.assign)
        if self.centroids is None or self.assign is None or self.assign.shape[0] != x.shape[0]:
            # First use, or densification/pruning changed N: (re)start K-means from the current values.
            if self.centroids is None:
                self.centroids = init_centroids(flat, self.size, self.generator)
            self.centroids, self.assign = kmeans(flat, self.centroids, max(1, sched.iters), self.empty)
        elif sched.reassign_now(it):
            self.centroids, self.assign = kmeans(flat, self.centroids, sched.iters, self.empty)
        else:
            self.centroids = update_centroids(flat, self.assign, self.centroids, self.empty)
        return quantize_ste(x, self.centroids, self.assign)
