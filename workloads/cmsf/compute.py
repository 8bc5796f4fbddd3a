"""Training compute of App. A.1.5.3, Eq. A.1 (Table A.11, Fig. 2.1): forward/backward passes and FLOPs."""
from __future__ import annotations

# App. A.1.5.3: "3.9 GFLOPs for a single forward pass of 224 x 224 resolution image through the ResNet50 backbone"
RESNET50_FORWARD_FLOPS = 3.9e9


def crop_weight(size: int, full: int = 224) -> float:
    """A K x K crop counts (K / 224)^2 of a full image (App. A.1.5.3: one 96 px crop = 0.184 image)."""
    return (size / full) ** 2


def minibatch_passes(fwd_crops: float, bwd_crops: float, batch: int, labelled_fwd: float = 0.0,
                     labelled_bwd: float = 0.0, labelled_batch: int = 0) -> tuple[float, float]:
    """Eq. A.1, first two lines: (Fwd mini-batch, Bwd mini-batch) = crops x batch size, unlabelled + labelled."""
    return (fwd_crops * batch + labelled_fwd * labelled_batch, bwd_crops * batch + labelled_bwd * labelled_batch)


def training_compute(fwd_minibatch: float, bwd_minibatch: float, iterations: float,
                     forward_flops: float = RESNET50_FORWARD_FLOPS) -> dict[str, float]:
    """Eq. A.1: passes = mini-batch x iterations (per epoch x epochs); Total FLOPs = (Fwd + 2 Bwd passes) x FLOPs
    of one forward pass. ``total_passes`` is Table A.11's "Total Pass" (Fwd + Bwd passes: 768 x 5004 x 200 =
    7.7e8 for Mean Shift)."""
    fwd, bwd = fwd_minibatch * iterations, bwd_minibatch * iterations
    return {"fwd_passes": fwd, "bwd_passes": bwd, "total_passes": fwd + bwd,
            "total_flops": (fwd + 2 * bwd) * forward_flops}


def cmsf_crops(extra_crops: int, extra_size: int, full_size: int) -> tuple[float, float]:
    """(forward, backward) crops per image of BYOL / MSF / CMSF: the target and the online view forward, the online
    view backward (Table A.11: 2 / 1), plus each small crop of the multi-crop variant forward and backward through the
    online encoder only (Sec. 2.1.4), weighted by its area."""
    extra = extra_crops * crop_weight(extra_size, full_size)
    return 2 + extra, 1 + extra
