"""CoTTA's test-time augmentations (colour jitter, affine, Gaussian blur, flip, Gaussian noise), batched on tensors."""
from __future__ import annotations

import torch
from torchvision.transforms import v2


def tta_transform(image_size: int, strength: str = "cifar") -> v2.Compose:
    """The augmentation family of CoTTA's ``get_tta_transforms`` (soft version for CIFAR, larger for ImageNet)."""
    jitter = (0.8, 1.2) if strength == "cifar" else (0.6, 1.4)
    return v2.Compose([
        v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=(-0.03, 0.03)),
        v2.RandomAffine(degrees=(-8, 8), translate=(1 / 16, 1 / 16), scale=(0.95, 1.05), shear=None,
                        interpolation=v2.InterpolationMode.BILINEAR),
        v2.GaussianBlur(kernel_size=5, sigma=(0.001, 0.25 if strength == "cifar" else 0.5)),
        v2.RandomHorizontalFlip(p=0.5),
    ])


class TTAugment:
    """Augment a batch, then add Gaussian noise (σ=0.005) and clamp to [0, 1].

    As in CoTTA's official code, one draw of the geometric/photometric parameters applies to the whole batch
    (each call draws anew; CoTTA averages 32 calls) and the noise is per pixel. Drawing per image meant a Python
    loop of ~4 small kernels per image: 15.5 s per CoTTA step of 200 CIFAR images on an H100."""

    def __init__(self, image_size: int, strength: str = "cifar", noise_std: float = 0.005):
        self.t = tta_transform(image_size, strength)
        self.noise_std = noise_std

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.t(x)
        return (out + self.noise_std * torch.randn_like(out)).clamp(0, 1)
