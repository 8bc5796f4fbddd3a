"""Index-aware data access shared by CMSF and SimReg."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset

from orchestrator.registry import ConfigError
from workloads.common.datasets import dataset_info, load_dataset

PAPER_DATA = ("imagenet", "imagenet100")
SMALL_DATA = ("synthetic", "digits")


class Indexed(Dataset):
    """Yields (image, label, index): the memory bank and the CMSF_self cache are keyed by image index."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return x, y, i


def dataset_labels(ds: Dataset) -> torch.Tensor:
    """All labels of ``ds`` without decoding images where the data set keeps them apart."""
    if isinstance(ds, TensorDataset):
        return ds.tensors[1].long()
    for attr in ("targets", "labels"):
        if hasattr(ds, attr):
            return torch.as_tensor(getattr(ds, attr)).long()
    if hasattr(ds, "samples"):
        return torch.tensor([s[1] for s in ds.samples]).long()
    return torch.tensor([int(ds[i][1]) for i in range(len(ds))]).long()


def load_split(name: str, ctx, n_train: int) -> tuple[Dataset, Dataset]:
    if name not in PAPER_DATA + SMALL_DATA:
        raise ConfigError(
            f"dataset {name!r} is not supported for representation learning; use synthetic (smoke), digits (mini) "
            f"or imagenet / imagenet100 (paper, ImageFolder layout under the data root {ctx.data_root}).")
    kw = dict(root=ctx.data_root, cache_dir=ctx.cache_dir, seed=0)
    if name == "synthetic":
        kw["n"] = n_train or 256
    dataset_info(name)
    return load_dataset(name, "train", **kw), load_dataset(name, "test", **kw)
