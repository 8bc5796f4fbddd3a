"""Transfer-learning image sets in their released on-disk layouts (SimReg Table 2.11 / A.13, NOLA few-shot).

Each set is read from its own annotation files under ``$ORCHESTRATOR_DATA`` (the ``data_root``); nothing is
downloaded. The parsers read the release files directly (the same files torchvision's ``Food101``, ``DTD``,
``OxfordIIITPet``, ``FGVCAircraft``, ``StanfordCars`` and ``Flowers102`` classes read) because the split rules need
every sample's label before any image is decoded, which those classes keep only in private attributes, and
``Flowers102`` refuses files whose md5 differs from the release even when reading a local copy.

Splits (dissertation App. A.2.2.4 and Table A.13, which follow Kornblith et al. [162]): ``test`` is the provided test
set (Aircraft, DTD, Flowers) or the provided validation set used as the hold-out test set (SUN397 split 1, Cars,
CIFAR, Food101, Pets); Caltech-101 has no split: a seeded 30 images per class are train+val and the rest test.
``val`` is the provided validation set (DTD, Flowers) or a seeded per-class sample of the training set (Aircraft and
Cars 20 %, Caltech-101 5, CIFAR 50, Food101 75, Pets 20, SUN397 10 per class); ``train`` is the rest and
``trainval`` both (the protocol's final fit). CUB-200-2011 (NOLA's few-shot tables) uses its ``train_test_split``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from workloads.common.datasets import DatasetMissingError
from workloads.common.transfer_layouts import TRANSFER_SETS, TransferSet

__all__ = ["TRANSFER_SETS", "TransferSet", "load_transfer", "transfer_samples", "per_class_holdout"]
SPLITS = ("train", "val", "trainval", "test")
SPLIT_SEED = 0  # fixed: every trial and every model sees the same split


# Caltech-101 has no official split: this many images per class are train+val (Table A.13's 2,550 + 510 = 30 x 102)
CALTECH_TRAINVAL_PER_CLASS = 30


def transfer_set(name: str) -> TransferSet:
    if name not in TRANSFER_SETS:
        raise ValueError(f"unknown transfer data set {name!r}; known: {', '.join(TRANSFER_SETS)}")
    return TRANSFER_SETS[name]


def missing(name: str, path: Path, what: str = "") -> DatasetMissingError:
    info = transfer_set(name)
    return DatasetMissingError(
        f"transfer data set {name!r}: {path} not found{what}. Expected layout under $ORCHESTRATOR_DATA (the data_root): "
        f"{info.layout}. Get {info.source}, extract it there (no download happens at run time), or point "
        f"$ORCHESTRATOR_DATA at the folder that holds {info.folder}/.")


class ImageListDataset(Dataset):
    """``(image, label)`` from a list of files, with the transfer protocol's evaluation transform: shorter side
    resized to ``image_size * 256 / 224``, centre crop ``image_size`` (App. A.2.2.4: 256 then 224), in [0, 1]."""

    def __init__(self, samples: Sequence[tuple[Path, int]], classes: Sequence[str], image_size: int = 224):
        from torchvision import transforms

        self.samples = list(samples)
        self.targets = [t for _, t in self.samples]
        self.classes = list(classes)
        self.transform = transforms.Compose([transforms.Resize(round(image_size * 256 / 224)),
                                             transforms.CenterCrop(image_size), transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from PIL import Image

        path, target = self.samples[i]
        with Image.open(path) as img:
            return self.transform(img.convert("RGB")), target


def per_class_holdout(labels: Sequence[int], rule: float | int, seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """(kept, held-out) indices: from each class a seeded random ``rule`` samples (an int) or ``floor(rule * n_c)``
    (a float fraction) are held out, at least one sample always kept; both lists in data-set order."""
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    g = torch.Generator().manual_seed(seed)
    held: list[int] = []
    for c in sorted(by_class):
        idx = by_class[c]
        k = rule if isinstance(rule, int) else int(rule * len(idx))
        k = max(0, min(k, len(idx) - 1))
        perm = torch.randperm(len(idx), generator=g)[:k].tolist()
        held.extend(idx[j] for j in perm)
    held_set = set(held)
    return [i for i in range(len(labels)) if i not in held_set], sorted(held)


def _read_lines(name: str, path: Path) -> list[str]:
    if not path.is_file():
        raise missing(name, path)
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def _check_images(name: str, samples: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
    if not samples:
        raise missing(name, Path(transfer_set(name).folder), " (its split lists no image)")
    absent = [p for p, _ in samples[:: max(1, len(samples) // 50)] if not p.is_file()]
    if absent:
        raise missing(name, absent[0], " (an image that its split files list)")
    return samples


def _food101(root: Path, part: str):
    base = root / "food-101"
    classes = _read_lines("food101", base / "meta" / "classes.txt")
    index = {c: i for i, c in enumerate(classes)}
    lines = _read_lines("food101", base / "meta" / f"{part}.txt")
    return [(base / "images" / f"{ln}.jpg", index[ln.split("/")[0]]) for ln in lines], classes


def _sun397(root: Path, part: str):
    base = root / "SUN397"
    names = _read_lines("sun397", base / "Partitions" / "ClassName.txt")   # "/a/abbey"
    index = {n: i for i, n in enumerate(names)}
    lines = _read_lines("sun397", base / "Partitions" / ("Training_01.txt" if part == "train" else "Testing_01.txt"))
    return [(base / ln.lstrip("/"), index[ln.rsplit("/", 1)[0]]) for ln in lines], [n.lstrip("/") for n in names]


def _cars(root: Path, part: str):
    from scipy.io import loadmat

    base = root / "stanford_cars"
    mat = base / "devkit" / "cars_train_annos.mat" if part == "train" else base / "cars_test_annos_withlabels.mat"
    meta = base / "devkit" / "cars_meta.mat"
    for f in (mat, meta):
        if not f.is_file():
            raise missing("cars", f)
    classes = [str(c) for c in loadmat(meta, squeeze_me=True)["class_names"].tolist()]
    folder = base / ("cars_train" if part == "train" else "cars_test")
    annos = np.atleast_1d(loadmat(mat, squeeze_me=True)["annotations"])  # one annotation squeezes to 0-d
    return [(folder / str(a["fname"]), int(a["class"]) - 1) for a in annos], classes


def _aircraft(root: Path, part: str):
    data = root / "fgvc-aircraft-2013b" / "data"
    classes = _read_lines("aircraft", data / "variants.txt")
    index = {c: i for i, c in enumerate(classes)}
    lines = _read_lines("aircraft", data / f"images_variant_{'trainval' if part == 'train' else 'test'}.txt")
    return [(data / "images" / f"{ln.split(' ', 1)[0]}.jpg", index[ln.split(' ', 1)[1]]) for ln in lines], classes


def _dtd(root: Path, part: str):
    data = root / "dtd" / "dtd"
    images = data / "images"
    if not images.is_dir():
        raise missing("dtd", images)
    classes = sorted(p.name for p in images.iterdir() if p.is_dir())
    index = {c: i for i, c in enumerate(classes)}
    lines = _read_lines("dtd", data / "labels" / f"{part}1.txt")
    return [(images / ln, index[ln.split("/")[0]]) for ln in lines], classes


def _pets(root: Path, part: str):
    base = root / "oxford-iiit-pet"
    lines = _read_lines("pets", base / "annotations" / f"{'trainval' if part == 'train' else 'test'}.txt")
    samples, classes = [], {}
    for ln in lines:                        # "Abyssinian_100 1 1 1": image, class id (1..37), species, breed id
        image, class_id = ln.split()[:2]
        classes[int(class_id) - 1] = image.rsplit("_", 1)[0]
        samples.append((base / "images" / f"{image}.jpg", int(class_id) - 1))
    return samples, [classes[i] for i in sorted(classes)]


def _caltech101(root: Path, part: str):
    base = root / "caltech101" / "101_ObjectCategories"
    if not base.is_dir():
        raise missing("caltech101", base)
    # every category folder, BACKGROUND_Google included: Table A.13's 2,550 + 510 train/val images are 30 x 102
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    g = torch.Generator().manual_seed(SPLIT_SEED)
    samples = []
    for c, name in enumerate(classes):
        files = sorted(p for p in (base / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        order = torch.randperm(len(files), generator=g).tolist()
        chosen = order[:CALTECH_TRAINVAL_PER_CLASS] if part == "train" else order[CALTECH_TRAINVAL_PER_CLASS:]
        samples.extend((files[j], c) for j in sorted(chosen))
    return samples, classes


def _flowers(root: Path, part: str):
    from scipy.io import loadmat

    base = root / "flowers-102"
    for f in ("imagelabels.mat", "setid.mat"):
        if not (base / f).is_file():
            raise missing("flowers", base / f)
    labels = loadmat(base / "imagelabels.mat", squeeze_me=True)["labels"]
    key = {"train": "trnid", "val": "valid", "test": "tstid"}[part]
    ids = np.atleast_1d(loadmat(base / "setid.mat", squeeze_me=True)[key]).astype(int).tolist()
    labels = np.atleast_1d(labels)
    return ([(base / "jpg" / f"image_{i:05d}.jpg", int(labels[i - 1]) - 1) for i in ids],
            [str(c) for c in range(1, 103)])


def _cub200(root: Path, part: str):
    base = root / "CUB_200_2011"
    paths = dict(ln.split(" ", 1) for ln in _read_lines("cub200", base / "images.txt"))
    labels = dict(ln.split() for ln in _read_lines("cub200", base / "image_class_labels.txt"))
    is_train = dict(ln.split() for ln in _read_lines("cub200", base / "train_test_split.txt"))
    want = "1" if part == "train" else "0"
    ids = sorted((i for i in paths if is_train[i] == want), key=int)
    classes = sorted({paths[i].split("/")[0] for i in paths})   # "001.Black_footed_Albatross", ... (zero-padded)
    return [(base / "images" / paths[i], int(labels[i]) - 1) for i in ids], classes


# "train" here is each release's train (+ val where the release has no separate val) file
_READERS = {"food101": _food101, "sun397": _sun397, "cars": _cars, "aircraft": _aircraft, "dtd": _dtd,
            "pets": _pets, "caltech101": _caltech101, "flowers": _flowers, "cub200": _cub200}
PROVIDED_VAL = ("dtd", "flowers")


def transfer_samples(name: str, split: str, root: str | Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """The ``(path, label)`` list of ``split`` (``train``, ``val``, ``trainval``, ``test``) and the class names."""
    info = transfer_set(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(root)
    read = _READERS[name]
    if split == "test":
        samples, classes = read(root, "test")
    elif name in PROVIDED_VAL:
        parts = {"train": ["train"], "val": ["val"], "trainval": ["train", "val"]}[split]
        samples, classes = [], []
        for p in parts:
            s, classes = read(root, p)
            samples += s
    else:
        samples, classes = read(root, "train")
        if split != "trainval" and info.val_rule is not None:
            kept, held = per_class_holdout([t for _, t in samples], info.val_rule)
            samples = [samples[i] for i in (kept if split == "train" else held)]
        elif split == "val":
            raise ValueError(f"{name} has no validation split (its release has train and test only)")
    return _check_images(name, samples), classes


def load_transfer(name: str, split: str, *, root: str | Path, image_size: int = 224) -> ImageListDataset:
    """One transfer set's split as a dataset of ``(image in [0, 1], label)`` (see the module docstring)."""
    samples, classes = transfer_samples(name, split, root)
    return ImageListDataset(samples, classes, image_size)


def num_classes(name: str, root: str | Path) -> int:
    return len(transfer_samples(name, "test", root)[1])
