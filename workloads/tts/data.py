"""Data of the TTS experiments: training/test sets, and the class-subset stream with its held-out sets (Sec. 4.2)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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


def predicted_pick(predictions: torch.Tensor, classes: list[int], per_class: int, seed: int) -> list[int]:
    """Indices of the stream images chosen by the baseline's predictions (Sec. 4.2: "Utilizing the pretrained
    baseline model, we extracted those images belonging to the selected subset"): for each subset class, up to
    ``per_class`` seeded random images that the last exit predicts as that class (its mistakes included: no
    label is read), then all of them in a seeded random order (the stream order). A class predicted fewer
    times than ``per_class`` gives all its images."""
    g = torch.Generator().manual_seed(seed)
    chosen: list[int] = []
    for c in classes:
        idx = torch.nonzero(predictions == c).flatten()
        chosen += idx[torch.randperm(len(idx), generator=g)[:per_class]].tolist()
    return [chosen[j] for j in torch.randperm(len(chosen), generator=g).tolist()]


class UnlabeledImages(Dataset):
    """A flat folder of images without labels (the ILSVRC-2012 test set: ``imagenet/test/*.JPEG``) with the
    evaluation transform of :class:`ImageFolderDataset` (resize, centre crop); the label is -1."""

    SUFFIXES = (".jpeg", ".jpg", ".png")

    def __init__(self, folder: Path, image_size: int = 224):
        from torchvision import transforms
        from torchvision.datasets.folder import default_loader

        self.paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in self.SUFFIXES)
        if not self.paths:
            raise DatasetMissingError(f"{folder} holds no .JPEG/.jpg/.png image; put the unlabeled ILSVRC-2012 test "
                                      f"images there (flat, no class folders)")
        self.loader = default_loader
        self.transform = transforms.Compose([transforms.Resize(int(image_size * 256 / 224)),
                                             transforms.CenterCrop(image_size), transforms.ToTensor()])
        self.targets = [-1] * len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.transform(self.loader(str(self.paths[i]))), -1


def stream_source(dataset: str, stream_split: str, *, test: Dataset, root: Path, n_train: int, seed: int) -> Dataset:
    """Where stream images come from: the evaluation split itself (``test``), the training split (``train``),
    or, for ImageNet, the unlabeled test images (``unlabeled``, the paper's reading of Sec. 4.2)."""
    if stream_split == "test":
        return test
    if stream_split == "unlabeled":
        if dataset != "imagenet":
            raise ValueError(f"stream_split: unlabeled reads the ImageNet test images; data set {dataset!r} has "
                             f"none. Use stream_split: test (the rest is held out) or train")
        folder = root / "imagenet" / "test"
        if not folder.is_dir():
            raise DatasetMissingError(
                f"the ImageNet stream (stream_split: unlabeled) reads {folder}/*.JPEG, which is missing. Put the "
                f"ILSVRC-2012 test images there (flat) or point $ORCHESTRATOR_DATA at its parent folder; or use "
                f"stream_split: test to stream validation images and hold out the rest.")
        return UnlabeledImages(folder, dataset_info("imagenet").image_size)
    if dataset == "imagenet":
        train_dir = root / "imagenet" / "train"
        if not train_dir.is_dir():
            raise DatasetMissingError(
                f"the ImageNet stream (stream_split: train) reads {train_dir}/<wnid>/*.JPEG, which is missing. Put "
                f"ILSVRC-2012 train there or point $ORCHESTRATOR_DATA at its parent folder.")
        return ImageFolderDataset(train_dir, image_size=dataset_info("imagenet").image_size, train=False)
    return load_split(dataset, "train", n=n_train, root=root, seed=seed)


def split_for_subset(dataset: str, classes: list[int], *, test: Dataset, stream_split: str, per_class: int,
                     root: Path, n_train: int, seed: int, stream_pick: str = "predicted",
                     predict: Callable[[Dataset], torch.Tensor] | None = None) -> SubsetSplit:
    """Stream and evaluation sets of one class subset (Sec. 4.2: 100 stream images per class; all reported
    accuracies on images unused for adaptation).

    ``stream_pick``: ``predicted`` (the paper) takes the images that ``predict`` (the baseline's last exit)
    assigns to a subset class (:func:`predicted_pick`); ``labelled`` takes ``per_class`` images of each subset
    class by their true label. Held-out = the subset classes' test images, other = every other class's test
    images, both without any streamed image."""
    if stream_pick not in ("predicted", "labelled"):
        raise ValueError(f"stream_pick={stream_pick!r} is unknown; use predicted (the paper) or labelled")
    if stream_pick == "labelled" and stream_split == "unlabeled":
        raise ValueError("stream_split: unlabeled has no labels to pick by; use stream_pick: predicted")
    if stream_pick == "labelled" and stream_split == "test":
        counts = {c: labels_of(test).count(c) for c in classes}
        short = {c: k for c, k in counts.items() if k <= per_class}
        if short:
            raise ValueError(
                f"n_stream_per_class={per_class} leaves no held-out test image for class(es) {sorted(short)} (the "
                f"{dataset} test split has {min(short.values())} of them). Lower n_stream_per_class, or draw the "
                f"stream from the training split with stream_split: train.")
        stream, held, other = class_subset_split(test, classes, per_class, seed)
        return SubsetSplit(stream, held, other)
    source = stream_source(dataset, stream_split, test=test, root=root, n_train=n_train, seed=seed)
    if stream_pick == "labelled":
        stream = per_class_pick(source, classes, per_class, seed)
    else:
        if predict is None:
            raise ValueError("stream_pick: predicted needs the baseline's predictions (predict=...)")
        stream = Subset(source, predicted_pick(predict(source), classes, per_class, seed))
    streamed = set(stream.indices) if source is test else set()
    labels = labels_of(test)
    wanted = set(classes)
    held = [i for i, y in enumerate(labels) if y in wanted and i not in streamed]
    other = [i for i, y in enumerate(labels) if y not in wanted and i not in streamed]
    if not held or not len(stream):
        raise ValueError(f"the class subset {classes} got {len(stream)} stream images and {len(held)} held-out test "
                         f"images; both must be non-empty: lower n_stream_per_class or use another stream_split")
    return SubsetSplit(stream, Subset(test, held), Subset(test, other))
