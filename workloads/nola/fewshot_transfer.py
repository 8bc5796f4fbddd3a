"""NOLA few-shot on the transfer sets of Tables 3.15 / B.12 (CUB-200-2011, Caltech-101) and 3.16 (Aircraft, Food101,
Pets, SUN397) in their release layouts.

As the authors' ``vit/dataloader.py`` does: the k-shot set is drawn from the training images
(``fewshot.kshot_per_class``) and the model is scored on the whole held-out split (their ``val/`` folder). Images
are decoded at ``Resize(256)`` then ``CenterCrop(256)``; the model's own ``ResizeCrop(224)``
(``vit_checkpoint.resize_center_crop``) then leaves the size and crops the centre 224, so the composition is their
evaluation transform ``Resize(256), CenterCrop(224)`` exactly. The test images stay uint8 (Food101's 25,250 at
256 px are 5 GB so, 20 GB as float); ``as_unit_float`` converts a batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import os

import torch

from workloads.common.transfer_datasets import ImageListDataset, transfer_samples
from workloads.nola.fewshot import kshot_per_class

# the release's training part: CUB's train_test_split 1, Caltech-101's seeded 30 per class (no official split),
# Aircraft's and Pets' trainval lists, Food101's train list, SUN397's Training_01
POOL_SPLIT, TEST_SPLIT = "trainval", "test"
DECODE_SIZE = 256   # the authors' Resize(256): the model's ResizeCrop(224) then crops the centre 224


@dataclass(frozen=True)
class FewShotSplits:
    x_train: torch.Tensor   # float in [0, 1]
    y_train: torch.Tensor
    x_test: torch.Tensor    # uint8 (as_unit_float per batch)
    y_test: torch.Tensor
    num_classes: int


def as_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images to float in [0, 1] as ``ToTensor`` scales them; float input is returned as it is."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def images(samples: list[tuple[Path, int]], classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``samples`` decoded to one uint8 tensor (shorter side to 256, centre 256 × 256) and their labels."""
    from torchvision import transforms

    ds = ImageListDataset(samples, classes)
    # the authors' Resize(256) without its crop to 224, which the model's ResizeCrop makes (module docstring)
    ds.transform = transforms.Compose([transforms.Resize(DECODE_SIZE), transforms.CenterCrop(DECODE_SIZE),
                                       transforms.PILToTensor()])
    # decoding thousands of JPEGs dominates a paper-scale trial's start; worker processes only where it pays
    workers = min(8, os.cpu_count() or 1) if len(ds) > 1000 else 0
    loader = torch.utils.data.DataLoader(ds, batch_size=max(1, min(len(ds), 256)), num_workers=workers)
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys).long()


def transfer_fewshot(name: str, root: str | Path, shots: int, sample: int) -> FewShotSplits:
    """The ``shots``-per-class training images of ``name`` for k-shot draw ``sample`` and its whole test split.
    A missing folder or split file raises ``DatasetMissingError`` naming the path and the expected layout."""
    pool, classes = transfer_samples(name, POOL_SPLIT, root)
    # ImageFolder order (class, then path), so that kshot_per_class picks the images the authors' code picks
    pool = sorted(pool, key=lambda s: (s[1], str(s[0])))
    labels = torch.tensor([t for _, t in pool])
    chosen = kshot_per_class(labels, shots, sample) if shots else torch.arange(len(pool))
    x_train, y_train = images([pool[i] for i in chosen.tolist()], classes)
    test, _ = transfer_samples(name, TEST_SPLIT, root)
    x_test, y_test = images(test, classes)
    return FewShotSplits(as_unit_float(x_train), y_train, x_test, y_test, len(classes))
