"""Data sets by name, in their real on-disk formats, as torch datasets of ``(image, label)``.

Images are float32 tensors in [0, 1], shape (C, H, W); normalisation lives in the models (so attacks
and corruptions work in pixel space).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from workloads.common.corruptions import CORRUPTIONS, corrupt_batch
from workloads.common.corruptions import VERSION as CORRUPTION_VERSION
from workloads.common.requirements import (CIFAR100_FOLDER, CIFAR100C_FOLDER, CIFAR10_FOLDER, CIFAR10C_FOLDER,
                                           IMAGENET_FOLDER, IMAGENETC_FOLDER)


class DatasetMissingError(FileNotFoundError):
    """A data set is not where it should be; the message says the path, the layout and how to get it."""


@dataclass(frozen=True)
class DatasetInfo:
    num_classes: int
    image_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DIGITS_MEAN, DIGITS_STD = (0.2, 0.2, 0.2), (0.35, 0.35, 0.35)

INFO: dict[str, DatasetInfo] = {
    "synthetic": DatasetInfo(10, 32, 3, (0.5,) * 3, (0.25,) * 3),
    "digits": DatasetInfo(10, 32, 3, DIGITS_MEAN, DIGITS_STD),
    "digits-c": DatasetInfo(10, 32, 3, DIGITS_MEAN, DIGITS_STD),
    "cifar10": DatasetInfo(10, 32, 3, CIFAR_MEAN, CIFAR_STD),
    "cifar10c": DatasetInfo(10, 32, 3, CIFAR_MEAN, CIFAR_STD),
    "cifar100": DatasetInfo(100, 32, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "cifar100c": DatasetInfo(100, 32, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": DatasetInfo(10, 28, 1, (0.1307,), (0.3081,)),
    "imagenet": DatasetInfo(1000, 224, 3, IMAGENET_MEAN, IMAGENET_STD),
    "imagenet100": DatasetInfo(100, 224, 3, IMAGENET_MEAN, IMAGENET_STD),
    "imagenetc": DatasetInfo(1000, 224, 3, IMAGENET_MEAN, IMAGENET_STD),
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in INFO:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(INFO)}")
    return INFO[name]


def _missing(name: str, path: Path, layout: str, how: str) -> DatasetMissingError:
    return DatasetMissingError(
        f"data set {name!r} not found at {path}. Expected layout: {layout}. {how} Put it there, or point "
        f"$ORCHESTRATOR_DATA (the `data_root`) at the folder that holds it."
    )


# ---------------------------------------------------------------------------------------------
# synthetic (smoke) and digits (mini)


def synthetic(n: int = 256, num_classes: int = 10, image_size: int = 32, channels: int = 3, seed: int = 0,
              split: str = "train") -> TensorDataset:
    """Seeded class-conditional images: each class a fixed random low-frequency pattern plus noise.

    Learnable in a few steps, so smoke runs exercise the real code paths with meaningful numbers."""
    g = torch.Generator().manual_seed(1234)  # class prototypes shared by both splits
    low = torch.rand(num_classes, channels, 4, 4, generator=g)
    protos = torch.nn.functional.interpolate(low, size=(image_size, image_size), mode="bilinear", align_corners=False)
    gs = torch.Generator().manual_seed(seed * 2 + (split != "train"))
    y = torch.arange(n) % num_classes
    y = y[torch.randperm(n, generator=gs)]
    x = (protos[y] + 0.15 * torch.randn(n, channels, image_size, image_size, generator=gs)).clamp(0, 1)
    return TensorDataset(x.float(), y.long())


DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0  # fixed: every trial sees the same train/test split


def _digits_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits (0..16) as 32x32 RGB uint8, fixed stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    import cv2

    d = load_digits()
    imgs = (d.images / 16.0 * 255.0).astype(np.uint8)
    big = np.stack([cv2.resize(im, (32, 32), interpolation=cv2.INTER_CUBIC) for im in imgs])
    rgb = np.repeat(big[..., None], 3, axis=-1)
    idx = np.arange(len(rgb))
    tr, te = train_test_split(idx, test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SPLIT_SEED, stratify=d.target)
    sel = tr if split == "train" else te
    return rgb[sel], d.target[sel].astype(np.int64)


def _to_tensor(images_uint8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).float().div_(255.0)
    return x.permute(0, 3, 1, 2).contiguous() if x.ndim == 4 else x.unsqueeze(1)


def digits(split: str = "train") -> TensorDataset:
    x, y = _digits_arrays(split)
    return TensorDataset(_to_tensor(x), torch.from_numpy(y))


def digits_c(corruption: str, severity: int, *, cache_dir: Path, seed: int = 0, split: str = "test") -> TensorDataset:
    """digits with one ImageNet-C corruption, deterministic per seed, cached under ``cache_dir``."""
    x, y = _digits_arrays(split)
    cache = Path(cache_dir) / "digits-c" / f"{split}-{corruption}-{severity}-seed{seed}-v{CORRUPTION_VERSION}.npy"
    if cache.is_file():
        xc = np.load(cache)
    else:
        xc = corrupt_batch(x, corruption, severity, seed)
        cache.parent.mkdir(parents=True, exist_ok=True)
        # unique temp name without touching numpy's global RNG (the trial's seeded stream must not shift);
        # the atomic rename lets parallel trials race safely: identical content, last writer wins
        tmp = cache.with_suffix(f".{os.getpid()}.{uuid.uuid4().hex}.tmp.npy")
        np.save(tmp, xc)
        tmp.replace(cache)
    return TensorDataset(_to_tensor(xc), torch.from_numpy(y))


# ---------------------------------------------------------------------------------------------
# real formats (paper scale)


def _cifar(name: str, root: Path, split: str) -> TensorDataset:
    folder = {"cifar10": CIFAR10_FOLDER, "cifar100": CIFAR100_FOLDER}[name]
    base = root / folder
    if not base.is_dir():
        raise _missing(name, base, "torchvision's python pickles (data_batch_1..5, test_batch / train, test)",
                       "Download cifar-10-python.tar.gz / cifar-100-python.tar.gz from the CIFAR site and extract it.")
    files = ([f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]) if name == "cifar10" \
        else (["train"] if split == "train" else ["test"])
    xs, ys = [], []
    for f in files:
        if not (base / f).is_file():
            raise _missing(name, base / f, f"{base}/{{{', '.join(files)}}}", "The extracted archive is incomplete; "
                           "extract the CIFAR python tarball again.")
        try:
            with open(base / f, "rb") as fh:
                entry = pickle.load(fh, encoding="latin1")
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise DatasetMissingError(f"{base / f} is not a readable CIFAR python batch ({type(exc).__name__}: "
                                      f"{exc}); the download is corrupt: extract the CIFAR python tarball again.") from None
        xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
    x = torch.from_numpy(np.concatenate(xs)).float().div_(255.0)
    return TensorDataset(x, torch.tensor(ys, dtype=torch.long))


def _cifar_c(name: str, root: Path, corruption: str, severity: int, n: int | None) -> TensorDataset:
    folder = root / {"cifar10c": CIFAR10C_FOLDER, "cifar100c": CIFAR100C_FOLDER}[name]
    f = folder / f"{corruption}.npy"
    if not f.is_file() or not (folder / "labels.npy").is_file():
        raise _missing(name, f, f"{folder}/<corruption>.npy (50000x32x32x3 uint8: severities 1-5 stacked, "
                       f"10,000 each) and {folder}/labels.npy", "Get CIFAR-10-C/CIFAR-100-C from Hendrycks' release (Zenodo).")
    try:
        arr = np.load(f, mmap_mode="r")
        labels = np.load(folder / "labels.npy")
    except (ValueError, OSError) as exc:
        raise DatasetMissingError(f"{f} or {folder / 'labels.npy'} cannot be read as a .npy array ({exc}); the file is "
                                  f"corrupt or truncated: download {name} again.") from None
    if arr.ndim != 4 or arr.shape[1:] != (32, 32, 3) or len(arr) % 5 or len(labels) != len(arr):
        raise DatasetMissingError(f"{f} has shape {arr.shape} with {len(labels)} labels; expected (5*N, 32, 32, 3) uint8 "
                                  f"(severities 1-5 stacked) and as many labels: the file is not a {name} array.")
    per = len(arr) // 5
    lo, hi = (severity - 1) * per, (severity - 1) * per + (n or per)
    x = torch.from_numpy(np.array(arr[lo:hi])).float().div_(255.0).permute(0, 3, 1, 2)
    return TensorDataset(x.contiguous(), torch.from_numpy(labels[lo:hi].astype(np.int64)))


class ImageFolderDataset(Dataset):
    """ImageNet-style ``<root>/<wnid>/*.JPEG`` with the papers' evaluation transform (resize 256, crop 224)."""

    def __init__(self, root: Path, classes: Sequence[str] | None = None, image_size: int = 224, train: bool = False):
        from torchvision import datasets, transforms

        if train:
            tf = transforms.Compose([transforms.RandomResizedCrop(image_size), transforms.RandomHorizontalFlip(),
                                     transforms.ToTensor()])
        else:
            tf = transforms.Compose([transforms.Resize(int(image_size * 256 / 224)), transforms.CenterCrop(image_size),
                                     transforms.ToTensor()])
        self.inner = datasets.ImageFolder(str(root), transform=tf)
        if classes is not None:
            keep = {self.inner.class_to_idx[c]: i for i, c in enumerate(classes) if c in self.inner.class_to_idx}
            missing = [c for c in classes if c not in self.inner.class_to_idx]
            if missing:
                raise DatasetMissingError(f"{root}: class folders {missing[:5]}... of the class list are missing")
            self.samples = [(p, keep[t]) for p, t in self.inner.samples if t in keep]
        else:
            self.samples = list(self.inner.samples)
        self.targets = [t for _, t in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, target = self.samples[i]
        img = self.inner.loader(path)
        return self.inner.transform(img), target


def _imagenet(name: str, root: Path, split: str, image_size: int, class_list: Path | None) -> Dataset:
    base = root / IMAGENET_FOLDER / ("train" if split == "train" else "val")
    if not base.is_dir():
        raise _missing(name, base, "imagenet/{train,val}/<wnid>/*.JPEG (val sorted into class folders)",
                       "Obtain ILSVRC-2012 from image-net.org.")
    classes = None
    if name == "imagenet100":
        lst = class_list or root / "imagenet100.txt"
        if not lst.is_file():
            raise _missing(name, lst, "a text file with the 100 wnids, one per line (CMC's ImageNet-100 list)",
                           "Write the class list next to the imagenet folder.")
        classes = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()]
    return ImageFolderDataset(base, classes, image_size, train=split == "train")


def _imagenet_c(root: Path, corruption: str, severity: int, image_size: int) -> Dataset:
    base = root / IMAGENETC_FOLDER / corruption / str(severity)
    if not base.is_dir():
        raise _missing("imagenetc", base, f"{IMAGENETC_FOLDER}/<corruption>/<severity 1-5>/<wnid>/*.JPEG",
                       "Get ImageNet-C from Hendrycks' release (Zenodo).")
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.CenterCrop(image_size), transforms.ToTensor()])
    return datasets.ImageFolder(str(base), transform=tf)


def _mnist(root: Path, split: str) -> TensorDataset:
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    if not raw.is_dir():
        raise _missing("mnist", raw, "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte", "Download MNIST's four idx files.")
    ds = MNIST(str(root), train=split == "train", download=False)
    return TensorDataset(ds.data.float().div(255.0).unsqueeze(1), ds.targets.long())


def select(ds: Dataset, *, n: int | None = None, subset_classes: Sequence[int] | None = None,
           image_size: int | None = None, seed: int = 0) -> Dataset:
    """Restrict ``ds`` to ``subset_classes`` (labels keep their original index, as TTS evaluates the full
    classifier on a class subset), then to ``n`` samples (a seeded random choice, kept in data-set order),
    and resize in-memory images to ``image_size`` (bilinear, antialiased). In-memory sets stay TensorDatasets."""
    if hasattr(ds, "tensors"):
        x, y = ds.tensors
        keep = torch.arange(len(y))
        if subset_classes is not None:
            keep = keep[torch.isin(y, torch.as_tensor(list(subset_classes), dtype=y.dtype))]
        if n is not None and n < len(keep):
            g = torch.Generator().manual_seed(seed)
            keep = keep[torch.randperm(len(keep), generator=g)[:n].sort().values]
        x, y = x[keep], y[keep]
        if image_size is not None and x.shape[-1] != image_size:
            x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear",
                                                align_corners=False, antialias=True).clamp_(0, 1)
        return TensorDataset(x, y)
    # folder data sets carry `targets`; only exotic ones fall back to reading every sample
    targets = list(ds.targets) if hasattr(ds, "targets") else [int(ds[i][1]) for i in range(len(ds))]
    keep = list(range(len(targets)))
    if subset_classes is not None:
        wanted = {int(c) for c in subset_classes}
        keep = [i for i in keep if int(targets[i]) in wanted]
    if n is not None and n < len(keep):
        g = torch.Generator().manual_seed(seed)
        keep = sorted(keep[j] for j in torch.randperm(len(keep), generator=g)[:n].tolist())
    sub = torch.utils.data.Subset(ds, keep)
    sub.targets = [targets[i] for i in keep]  # type: ignore[attr-defined]  (class_subset_split reads it)
    return sub


def load_dataset(name: str, split: str = "train", *, root: str | Path | None = None, cache_dir: str | Path | None = None,
                 seed: int = 0, corruption: str | None = None, severity: int | None = None,
                 subset_classes: Sequence[int] | None = None, n: int | None = None, image_size: int | None = None,
                 class_list: str | Path | None = None) -> Dataset:
    """One entry point for every data set the workloads use (see module docstring for the format).

    ``subset_classes``/``n``/``image_size`` are applied last by :func:`select` (ImageNet folders resize in
    their own transform); ``n`` also sets the size of ``synthetic``."""
    if n is not None and n <= 0:
        raise ValueError(f"n must be a positive number of samples or None (all), got {n}")
    ds = _load(name, split, root=root, cache_dir=cache_dir, seed=seed, corruption=corruption, severity=severity, n=n,
               image_size=image_size, class_list=class_list)
    needs_resize = image_size if name not in ("synthetic", "imagenet", "imagenet100", "imagenetc") else None
    if subset_classes is None and n is None and needs_resize is None:
        return ds
    return select(ds, n=n, subset_classes=subset_classes, image_size=needs_resize, seed=seed)


def _load(name: str, split: str, *, root, cache_dir, seed: int, corruption, severity, n, image_size,
          class_list) -> Dataset:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rootp = Path(root) if root is not None else Path("data")
    if name in ("digits-c", "cifar10c", "cifar100c", "imagenetc"):
        if corruption not in CORRUPTIONS or severity not in (1, 2, 3, 4, 5):
            raise ValueError(f"{name} needs corruption (one of {', '.join(CORRUPTIONS)}) and severity 1..5, "
                             f"got {corruption!r}, {severity!r}")
    if name == "synthetic":
        return synthetic(n or 256, image_size=image_size or 32, seed=seed, split=split)
    if name == "digits":
        return digits(split)
    if name == "digits-c":
        from orchestrator.context import default_cache_dir

        return digits_c(corruption, severity, cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(), seed=seed,
                        split=split)
    if name in ("cifar10", "cifar100"):
        return _cifar(name, rootp, split)
    if name in ("cifar10c", "cifar100c"):
        return _cifar_c(name, rootp, corruption, severity, n)
    if name in ("imagenet", "imagenet100"):
        return _imagenet(name, rootp, split, image_size or 224, Path(class_list) if class_list else None)
    if name == "imagenetc":
        return _imagenet_c(rootp, corruption, severity, image_size or 224)
    if name == "mnist":
        return _mnist(rootp, split)
    raise ValueError(f"unknown data set {name!r}; known: {', '.join(INFO)}")


def fingerprint(ds: Dataset, k: int = 8) -> str:
    """A short hash of the first ``k`` samples (tests use it to check determinism)."""
    h = hashlib.sha1()
    for i in range(min(k, len(ds))):
        x, y = ds[i]
        h.update(np.asarray(x).tobytes())
        h.update(str(int(y)).encode())
    return h.hexdigest()[:16]
