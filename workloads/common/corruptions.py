"""The 15 ImageNet-C corruptions (Hendrycks & Dietterich) through the `imagecorruptions` package.

`imagecorruptions` 1.1.2 predates numpy 2 and scikit-image 0.19+: `fog` uses the removed `np.float_`
and `glass_blur` calls `skimage.filters.gaussian(..., multichannel=True)` (now `channel_axis`). The
shim below restores exactly those two names before the package is imported; nothing of the package
is copied.

Image size. The corruptions were tuned for 224 px images. Those whose parameters are spatial extents
(blur radii, zoom, snow flakes, frost crops, fog octaves, elastic displacement) are applied to small
images (digits, CIFAR-sized) after upsampling them to `WORK_SIZE`, then resized back with area
averaging, so they keep a footprint closer to the intended one instead of wiping out a 32 px image.
Per-pixel corruptions (noise, brightness, contrast, pixelate, JPEG) and glass blur are applied at the
native size, as CIFAR-10-C does: area down-sampling would average away half of the noise, and the
package's glass blur is a pure-Python pixel-swap loop whose cost grows with the area (≈20 s per
360-image split at 64 px, ≈2 s at 32 px).
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
WORK_SIZE = 64  # side at which the spatial corruptions of small images are applied (fog needs a power of 2)
UPSAMPLED = frozenset({"defocus_blur", "motion_blur", "zoom_blur", "snow", "frost", "fog", "elastic_transform"})
VERSION = 2  # part of every on-disk cache key: bump when the recipe above changes


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
    if name in UPSAMPLED and min(h, w) < WORK_SIZE:
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
