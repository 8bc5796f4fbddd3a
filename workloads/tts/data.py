"""Data of the TTS experiments: training/test sets, and the class-subset stream with its held-out sets (Sec. 4.2)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from workloads.common.datasets import DatasetMissingError, ImageFolderDataset, dataset_info, load_dataset
from workloads.common.streams import DIGITS_SUBSETS, TTS_IMAGENET_SUBSETS, class_subset_split

SYNTHETIC_SUBSETS: dict[str, list[int]] = {"low": [0, 1, 2, 3, 4], "high": [5, 6, 7, 8, 9]}
SUBSETS: dict[str, dict[str, list[int]]] = {
    "imagenet": TTS_IMAGENET_SUBSETS, "digits": DIGITS_SUBSETS, "synthetic": SYNTHETIC_SUBSETS,
}
SYNTHETIC_SIZES = {"train": 512, "test": 256}  # synthetic images generated when n_train/n_test is 0


def subset_classes(dataset: str, subset: str) -> list[int]:
    known = SUBSETS[dataset]
    if subset not in known:
        raise ValueError(f"unknown class subset {subset!r} for data set {dataset!r}; choose one of "
                         f"{', '.join(known)} (set `subset` in the sweep)")
    return list(known[subset])


def load_split(dataset: str, split: str, *, n: int, root: Path, seed: int) -> Dataset:
    """Train or test images; ``imagenet``'s test split is the labelled validation set, as in the paper."""
    if dataset == "synthetic":
        # one fixed generator seed: every trial of a sweep sees the same synthetic images
        return load_dataset("synthetic", split, n=n or SYNTHETIC_SIZES[split], seed=0 if split == "train" else 1)
    return load_dataset(dataset, split, root=root, n=n or None, seed=seed)


def labels_of(ds: Dataset) -> list[int]:
    if hasattr(ds, "tensors"):
        return ds.tensors[1].tolist()
    if hasattr(ds, "targets"):
        return [int(t) for t in ds.targets]
    return [int(ds[i][1]) for i in range(len(ds))]


@dataclass
class SubsetSplit:
    """stream: unlabeled images of the subset classes seen at test time; held_out: the subset classes'
    evaluation images (never streamed); other: evaluation images of every other class."""

    stream: Dataset
    held_out: Dataset
    other: Dataset


def per_class_pick(ds: Dataset, classes: list[int], per_class: int, seed: int) -> Subset:
    """``per_class`` seeded random images of each class, in a seeded random order (the stream order)."""
    labels = labels_of(ds)
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in classes:
        idx = [i for i, y in enumerate(labels) if y == c]
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} images in the stream source, fewer than n_stream_per_class="
                             f"{per_class}; lower n_stream_per_class")
        chosen += [idx[j] for j in torch.randperm(len(idx), generator=g)[:per_class].tolist()]
    return Subset(ds, [chosen[j] for j in torch.randperm(len(chosen), generator=g).tolist()])


def split_for_subset(dataset: str, classes: list[int], *, test: Dataset, stream_split: str, per_class: int,
                     root: Path, n_train: int, seed: int) -> SubsetSplit:
    """Stream and evaluation sets of one class subset (Sec. 4.2: 100 stream images per class; all reported
    accuracies on images unused for adaptation)."""
    if stream_split == "test":
        counts = {c: labels_of(test).count(c) for c in classes}
        short = {c: k for c, k in counts.items() if k <= per_class}
        if short:
            raise ValueError(
                f"n_stream_per_class={per_class} leaves no held-out test image for class(es) {sorted(short)} (the "
                f"{dataset} test split has {min(short.values())} of them). Lower n_stream_per_class, or draw the "
                f"stream from the training split with stream_split: train.")
        stream, held, other = class_subset_split(test, classes, per_class, seed)
        return SubsetSplit(stream, held, other)
    if dataset == "imagenet":
        train_dir = root / "imagenet" / "train"
        if not train_dir.is_dir():
            raise DatasetMissingError(
                f"the ImageNet stream (stream_split: train) reads {train_dir}/<wnid>/*.JPEG, which is missing. Put "
                f"ILSVRC-2012 train there or point $ORCHESTRATOR_DATA at its parent folder.")
        source = ImageFolderDataset(train_dir, image_size=dataset_info("imagenet").image_size, train=False)
    else:
        source = load_split(dataset, "train", n=n_train, root=root, seed=seed)
    stream = per_class_pick(source, classes, per_class, seed)
    labels = torch.tensor(labels_of(test))
    in_subset = torch.isin(labels, torch.tensor(classes))
    held = Subset(test, torch.nonzero(in_subset).flatten().tolist())
    other = Subset(test, torch.nonzero(~in_subset).flatten().tolist())
    return SubsetSplit(stream, held, other)
