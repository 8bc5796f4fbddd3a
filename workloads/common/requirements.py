"""What a paper-scale trial reads from disk, found or missing, before anything runs (``orchestrator doctor``).

The one rule for where files go: data sets under the data root (``$ORCHESTRATOR_DATA``) in the folders named here
(``DATA_FOLDERS``; ``workloads.common.datasets`` reads the same names), checkpoints under
``<data root>/checkpoints/<workload>/``. A relative path given in a config is under the data root, never the
working directory (a Ray worker's working directory is not the driver's).

No torch here: each workload's ``requirements(cfg, data_root, scale)`` only looks at paths.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

CIFAR10_FOLDER, CIFAR100_FOLDER = "cifar-10-batches-py", "cifar-100-python"
CIFAR10C_FOLDER, CIFAR100C_FOLDER = "CIFAR-10-C", "CIFAR-100-C"
IMAGENET_FOLDER, IMAGENETC_FOLDER = "imagenet", "ImageNet-C"
IMAGENET100_LIST = "imagenet100.txt"
MNIST_FOLDER = "MNIST/raw"
CHECKPOINTS = "checkpoints"

CIFAR_FILES = {"cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
               "cifar100": {"train": ["train"], "test": ["test"]}}
MNIST_FILES = {"train": ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
               "test": ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]}

# data sets made here (generated or shipped with installed packages): nothing to find on disk
GENERATED = ("synthetic", "digits", "digits-c")

LAYOUTS = {
    "cifar10": f"{CIFAR10_FOLDER}/{{data_batch_1..5, test_batch}} (CIFAR's python pickles)",
    "cifar100": f"{CIFAR100_FOLDER}/{{train, test}} (CIFAR's python pickles)",
    "cifar10c": f"{CIFAR10C_FOLDER}/<corruption>.npy (severities 1-5 stacked) + labels.npy",
    "cifar100c": f"{CIFAR100C_FOLDER}/<corruption>.npy (severities 1-5 stacked) + labels.npy",
    "imagenet": f"{IMAGENET_FOLDER}/{{train,val}}/<wnid>/*.JPEG (val sorted into class folders)",
    "imagenet100": f"{IMAGENET_FOLDER}/{{train,val}}/<wnid>/*.JPEG + {IMAGENET100_LIST} (100 wnids)",
    "imagenetc": f"{IMAGENETC_FOLDER}/<corruption>/<severity 1-5>/<wnid>/*.JPEG",
    "mnist": f"{MNIST_FOLDER}/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte",
}
SOURCES = {
    "cifar10": "cifar-10-python.tar.gz from the CIFAR site, extracted",
    "cifar100": "cifar-100-python.tar.gz from the CIFAR site, extracted",
    "cifar10c": "CIFAR-10-C from Hendrycks' release (Zenodo), extracted",
    "cifar100c": "CIFAR-100-C from Hendrycks' release (Zenodo), extracted",
    "imagenet": "ILSVRC-2012 from image-net.org",
    "imagenet100": "ILSVRC-2012 from image-net.org and CMC's ImageNet-100 class list",
    "imagenetc": "ImageNet-C from Hendrycks' release (Zenodo), each corruption's tar extracted",
    "mnist": "MNIST's four idx files",
}


@dataclass(frozen=True)
class Requirement:
    """One data set or checkpoint a trial reads: ``path`` (a folder or file), its ``layout``, what is ``missing``
    under it (empty: found) and ``hint`` (where to get it)."""

    kind: str                      # "data" or "checkpoint"
    name: str                      # what it is: "cifar10c", "palm source model wrn28_10"
    path: Path
    layout: str
    missing: tuple[Path, ...] = ()
    hint: str = ""

    @property
    def found(self) -> bool:
        return not self.missing


def under_root(path: str | Path, data_root: str | Path) -> Path:
    """A config path: absolute (``~`` expanded) as given, relative under the data root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(data_root) / p


def checkpoint_dir(data_root: str | Path, workload: str) -> Path:
    return Path(data_root) / CHECKPOINTS / workload


def missing_of(paths: Iterable[Path], *, folders: bool = False) -> tuple[Path, ...]:
    test = Path.is_dir if folders else Path.is_file
    return tuple(p for p in paths if not test(p))


def checkpoint_requirement(name: str, path: Path, layout: str, hint: str = "", *, folder: bool = False,
                           files: Sequence[str] = ()) -> Requirement:
    """A checkpoint file (or, ``folder``, a folder holding ``files``)."""
    if folder:
        missing = (path,) if not path.is_dir() else missing_of(path / f for f in files)
    else:
        missing = missing_of([path])
    return Requirement("checkpoint", name, path, layout, missing, hint)


def dataset_requirement(name: str, data_root: str | Path, *, splits: Sequence[str] = ("train", "test"),
                        corruptions: Sequence[str] = (), severities: Sequence[int] = (5,),
                        class_list: str | Path | None = None) -> Requirement | None:
    """What ``load_dataset(name, split, ...)`` reads for each of ``splits`` (and each corruption / severity of a
    corrupted set); ``None`` for the data sets made here (``GENERATED``)."""
    if name in GENERATED:
        return None
    if name not in LAYOUTS:
        raise ValueError(f"no on-disk layout known for data set {name!r}; known: {', '.join(LAYOUTS)}")
    root = Path(data_root)
    if name in ("cifar10", "cifar100"):
        base = root / (CIFAR10_FOLDER if name == "cifar10" else CIFAR100_FOLDER)
        missing = missing_of(base / f for s in splits for f in CIFAR_FILES[name][s])
    elif name in ("cifar10c", "cifar100c"):
        base = root / (CIFAR10C_FOLDER if name == "cifar10c" else CIFAR100C_FOLDER)
        missing = missing_of([base / "labels.npy", *(base / f"{c}.npy" for c in corruptions)])
    elif name in ("imagenet", "imagenet100"):
        base = root / IMAGENET_FOLDER
        missing = missing_of((base / ("train" if s == "train" else "val") for s in splits), folders=True)
        if name == "imagenet100":
            missing += missing_of([under_root(class_list, root) if class_list else root / IMAGENET100_LIST])
    elif name == "imagenetc":
        base = root / IMAGENETC_FOLDER
        missing = missing_of((base / c / str(s) for c in corruptions for s in severities), folders=True)
    else:  # mnist
        base = root / MNIST_FOLDER
        missing = missing_of(base / f for s in splits for f in MNIST_FILES[s])
    return Requirement("data", name, base, LAYOUTS[name], missing, SOURCES[name])


def datasets(*reqs: Requirement | None) -> list[Requirement]:
    """The non-``None`` requirements (generated data sets have none)."""
    return [r for r in reqs if r is not None]
