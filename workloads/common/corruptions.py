"""The 15 ImageNet-C corruptions (Hendrycks & Dietterich) through the `imagecorruptions` package.

`imagecorruptions` 1.1.2 predates numpy 2 and scikit-image 0.19+: `fog` uses the removed `np.float_`
and `glass_blur` calls `skimage.filters.gaussian(..., multichannel=True)` (now `channel_axis`). The
shim below restores exactly those two names before the package is imported; nothing of the package
is copied. The corruptions were tuned for 224 px images, so small images (digits, CIFAR-sized) are
upsampled to `WORK_SIZE` first, corrupted there, and resized back: zoom/motion blur, frost and fog
then keep their intended relative footprint.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

# CoTTA's continual order (Wang et al., 2022), used by PALM and every CTTA baseline.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
WORK_SIZE = 64  # smallest side at which all 15 corruptions behave (frost crops need >= 32, fog needs a power of 2)


def _patch_dependencies() -> None:
    if not hasattr(np, "float_"):
        np.float_ = np.float64  # type: ignore[attr-defined]
    import skimage.filters

    original = skimage.filters.gaussian
    if getattr(original, "_multichannel_shim", False):
        return

    def gaussian(image, *args, multichannel=None, **kwargs):
        if multichannel is not None and "channel_axis" not in kwargs:
            kwargs["channel_axis"] = -1 if multichannel else None
        return original(image, *args, **kwargs)

    gaussian._multichannel_shim = True  # type: ignore[attr-defined]
    skimage.filters.gaussian = gaussian


def _corrupt_fn():
    _patch_dependencies()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import imagecorruptions
        import imagecorruptions.corruptions as impl

    # glass_blur imported `gaussian` by name into its module: patch that reference too.
    import skimage.filters

    impl.gaussian = skimage.filters.gaussian
    return imagecorruptions.corrupt


def corrupt_image(image: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt one HxWx3 uint8 image; deterministic given ``seed`` (the package draws from numpy's global RNG)."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1..5, got {severity}")
    import cv2

    corrupt = _corrupt_fn()
    h, w = image.shape[:2]
    work = image
    if min(h, w) < WORK_SIZE:
        work = cv2.resize(image, (WORK_SIZE, WORK_SIZE), interpolation=cv2.INTER_LINEAR)
    state = np.random.get_state()
    np.random.seed(seed % (2**32))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = corrupt(work, corruption_name=name, severity=severity)
    finally:
        np.random.set_state(state)
    out = np.asarray(out)
    if out.shape[:2] != (h, w):
        out = cv2.resize(np.clip(out, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_AREA)
    return np.clip(out, 0, 255).astype(np.uint8)


def corrupt_batch(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt N×H×W×3 uint8 images; image ``i`` uses seed ``seed * 100003 + i`` (order-independent)."""
    return np.stack([corrupt_image(img, name, severity, seed * 100003 + i) for i, img in enumerate(images)])


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    bad = [n for n in names if n not in CORRUPTIONS]
    if bad:
        raise ValueError(f"unknown corruption(s) {bad}; choose from {', '.join(CORRUPTIONS)}")
    return tuple(names)
