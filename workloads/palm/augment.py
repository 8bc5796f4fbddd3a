"""The test-time augmentation shared by PALM, LAW, CoTTA and surgical fine-tuning, batched on tensors.

It follows ``get_tta_transforms(dataset)`` of the authors' code with its defaults (soft=False, padding_mode='edge',
cotta_augs=True): sarthaxxxxx/PALM classification/augmentations/transforms_cotta.py:133-167 (CoTTA's own copy:
qinenergy/cotta cifar/cotta.py:14-46). Every data set uses the strong ranges, and the image is
edge-padded by half its size before the affine so rotated/scaled corners repeat border pixels instead of black.
"""
from __future__ import annotations

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

# transforms_cotta.py:140-144 and 148-150, soft=False
BRIGHTNESS, CONTRAST, SATURATION, HUE, GAMMA = (0.6, 1.4), (0.7, 1.3), (0.5, 1.5), (-0.06, 0.06), (0.7, 1.3)
DEGREES, TRANSLATE, SCALE = (-15.0, 15.0), (1 / 16, 1 / 16), (0.9, 1.1)
BLUR_KERNEL, BLUR_SIGMA = 5, (0.001, 0.5)       # transforms_cotta.py:157
NOISE_STD = 0.005                               # transforms_cotta.py:133 (gaussian_std)


def _uniform(lo: float, hi: float, generator: torch.Generator | None) -> float:
    return float(torch.empty(()).uniform_(lo, hi, generator=generator))


def color_jitter_pro(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """ColorJitterPro (transforms_cotta.py:84-121): brightness, contrast, saturation, hue and gamma, each with one
    factor for the whole batch, applied in a random order (torch.randperm(5))."""
    for op in torch.randperm(5, generator=generator).tolist():
        if op == 0:
            x = TF.adjust_brightness(x, _uniform(*BRIGHTNESS, generator))
        elif op == 1:
            x = TF.adjust_contrast(x, _uniform(*CONTRAST, generator))
        elif op == 2:
            x = TF.adjust_saturation(x, _uniform(*SATURATION, generator))
        elif op == 3:
            x = TF.adjust_hue(x, _uniform(*HUE, generator))
        else:
            # the code clamps before gamma: a zero pixel raised to a power < 1 gives NaN gradients (line 117)
            x = TF.adjust_gamma(x.clamp(1e-8, 1.0), _uniform(*GAMMA, generator))
    return x


def random_affine_edge_padded(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad(size/2, 'edge') → RandomAffine(±15°, translate 1/16, scale [0.9, 1.1], bilinear, fill 0) → CenterCrop
    (transforms_cotta.py:146-158). The translation is a fraction of the padded image, as torchvision's is."""
    h, w = x.shape[-2:]
    pad = int(h / 2)
    padded = TF.pad(x, [pad, pad, pad, pad], padding_mode="edge")
    ph, pw = padded.shape[-2:]
    angle = _uniform(*DEGREES, generator)
    tx = round(_uniform(-TRANSLATE[0] * pw, TRANSLATE[0] * pw, generator))
    ty = round(_uniform(-TRANSLATE[1] * ph, TRANSLATE[1] * ph, generator))
    scale = _uniform(*SCALE, generator)
    out = TF.affine(padded, angle=angle, translate=[tx, ty], scale=scale, shear=[0.0, 0.0],
                    interpolation=InterpolationMode.BILINEAR, fill=0.0)
    out = TF.gaussian_blur(out, kernel_size=[BLUR_KERNEL, BLUR_KERNEL], sigma=_uniform(*BLUR_SIGMA, generator))
    return TF.center_crop(out, [h, w])


class TTAugment:
    """One call = one draw of the photometric/geometric parameters for the whole batch (as the code applies its
    torchvision Compose to the batch tensor), per-pixel Gaussian noise, clipped to [0, 1]."""

    def __init__(self, image_size: int | None = None, noise_std: float = NOISE_STD,
                 generator: torch.Generator | None = None):
        self.noise_std, self.generator = noise_std, generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = color_jitter_pro(x.clamp(0, 1), self.generator)
        out = random_affine_edge_padded(out, self.generator)
        if bool(torch.rand((), generator=self.generator) < 0.5):
            out = TF.horizontal_flip(out)
        noise = torch.randn(out.shape, generator=self.generator, dtype=out.dtype).to(out.device)
        return (out + self.noise_std * noise).clamp(0, 1)
