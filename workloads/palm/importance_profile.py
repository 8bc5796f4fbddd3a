"""PALM Fig. 2: LR importance i^t_{j,n} (Eq. 7) averaged over a task, as a profile over network depth.

The figure plots, per convolutional block / stage / layer of WRN-28-10, ResNeXt-29 and ResNet-50, the task average
of each layer's importance (the released ``methods/ours.py`` l.68-71 averages ``step_size = (u + eps) /
(exp_sens + eps)`` over each tensor: that per-tensor mean is what is averaged here). The three networks have
different depths, so the per-tensor task means (in the model's parameter order, input to output) are cut into
``DEPTH_BINS`` contiguous, equally sized groups and averaged within each: bin 0 is the stem, the last bin the
classifier side. A tensor not selected for a batch contributes importance 0 for that batch (it is frozen).
"""
from __future__ import annotations

import numpy as np

DEPTH_BINS = 10
FIG2_TASKS = ("glass_blur", "snow")  # the two domains the figure shows


def depth_profile(layer_means: list[float], bins: int = DEPTH_BINS) -> list[float]:
    """Means of ``bins`` contiguous, near-equal groups of ``layer_means`` (input -> output order); the first
    ``len % bins`` groups hold one layer more (``numpy.array_split``). Fewer layers than bins: one per layer."""
    if not layer_means:
        return []
    return [float(np.mean(g)) for g in np.array_split(np.asarray(layer_means, dtype=np.float64),
                                                      min(bins, len(layer_means)))]


def profile_metrics(task_layer_means: dict[str, dict[str, float]], tasks=FIG2_TASKS,
                    bins: int = DEPTH_BINS) -> dict[str, float]:
    """``importance_<task>_d<k>`` summary metrics for Fig. 2 (tasks absent from the stream are skipped)."""
    out = {}
    for task in tasks:
        if task in task_layer_means:
            for k, v in enumerate(depth_profile(list(task_layer_means[task].values()), bins)):
                out[f"importance_{task}_d{k}"] = v
    return out
