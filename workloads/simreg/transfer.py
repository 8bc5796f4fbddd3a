"""Transfer evaluation: a linear classifier on frozen backbone features of another data set (Tables 2.11, A.15, A.16).

The paper trains one linear layer per transfer data set on top of the frozen, distilled backbone (App. A.2.2.4):
Food101, CIFAR-10/100, SUN397, Cars, Aircraft, DTD, Pets, Caltech-101, Flowers, with Table A.13's splits and
accuracy measures (top-1, or mean per-class accuracy for Aircraft, Pets, Caltech-101 and Flowers). Those sets are
read from their release layouts by ``workloads.common.transfer_datasets``; CIFAR from its python batches. At mini
scale ``digits-c:<corruption>:<severity>`` (digits under a corruption: a domain-shifted target that ships with
installed packages) stands in; ``synthetic`` is smoke's. The metric of ``digits-c:fog:5`` is
``transfer_digits_c_fog_5``; ``transfer_mean`` is the mean over the run's transfer sets (Table 2.11's "Mean").

The classifier is fitted on train + val and scored on test: the last step of the paper's protocol (after its
grid search on val) with the linear probe of ``workloads.common.knn`` instead of the L-BFGS grid search
(docs/FIDELITY.md, SimReg).
"""
from __future__ import annotations

import re

import torch
from torch.utils.data import Dataset

from orchestrator.registry import ConfigError
from workloads.cmsf.evaluation import embed
from workloads.common.datasets import load_dataset
from workloads.common.knn import linear_probe
from workloads.common.transfer_datasets import TRANSFER_SETS as RELEASED_SETS
from workloads.common.transfer_datasets import load_transfer, transfer_samples

TRANSFER_SETS = ("cifar10", "cifar100", *RELEASED_SETS, "digits-c", "synthetic")
# Table 2.11's ten data sets, in its row order (the paper-scale sweep's transfer list)
PAPER_TRANSFER = ("food101", "cifar10", "cifar100", "sun397", "cars", "aircraft", "dtd", "pets", "caltech101", "flowers")


def metric_name(spec: str) -> str:
    return "transfer_" + re.sub(r"[^0-9a-zA-Z]+", "_", spec).strip("_").lower()


def parse_transfer(spec: str) -> dict:
    name, *rest = spec.split(":")
    if name not in TRANSFER_SETS:
        raise ConfigError(f"transfer data set {spec!r} is not supported; use one of {', '.join(TRANSFER_SETS)} "
                          f"(digits-c as digits-c:<corruption>:<severity>, e.g. digits-c:fog:5).")
    if name == "digits-c":
        if len(rest) != 2 or not rest[1].isdigit():
            raise ConfigError(f"transfer {spec!r}: write digits-c:<corruption>:<severity>, e.g. digits-c:fog:5")
        return {"name": name, "corruption": rest[0], "severity": int(rest[1])}
    if rest:
        raise ConfigError(f"transfer {spec!r}: only digits-c takes ':' options; write {name!r}")
    return {"name": name}


def accuracy_measure(name: str) -> str:
    """Table A.13's measure for a transfer set: ``mean_per_class`` or ``top1`` (CIFAR and the small sets)."""
    return RELEASED_SETS[name].accuracy if name in RELEASED_SETS else "top1"


class CenterResized(Dataset):
    """An in-memory image set resized per item as the transfer protocol does (shorter side to ``size * 256/224``,
    centre crop ``size``), so 32 px CIFAR is not held at 224 px in memory all at once."""

    def __init__(self, base: Dataset, size: int):
        from torchvision import transforms

        self.base = base
        self.tf = transforms.Compose([transforms.Resize(round(size * 256 / 224), antialias=True),
                                      transforms.CenterCrop(size)])
        self.targets = base.tensors[1].tolist() if hasattr(base, "tensors") else None

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return self.tf(x).clamp_(0, 1), y


def transfer_splits(spec: str, *, ctx, image_size: int) -> tuple[Dataset, Dataset]:
    """(fit split, test split) of one transfer target: train+val and test for the paper's sets."""
    kw = parse_transfer(spec)
    name = kw.pop("name")
    if name in RELEASED_SETS:
        return (load_transfer(name, "trainval", root=ctx.data_root, image_size=image_size),
                load_transfer(name, "test", root=ctx.data_root, image_size=image_size))
    if name in ("cifar10", "cifar100"):
        train, test = (load_dataset(name, s, root=ctx.data_root) for s in ("train", "test"))
        return CenterResized(train, image_size), CenterResized(test, image_size)
    load = dict(root=ctx.data_root, cache_dir=ctx.cache_dir, seed=0, **kw)
    if name == "synthetic":                     # smoke: another draw of the synthetic classes
        load.update(n=128, seed=1)
    else:
        load["image_size"] = image_size
    return load_dataset(name, "train", **load), load_dataset(name, "test", **load)


def check_transfer_data(specs: list[str], data_root) -> None:
    """Read every paper transfer set's split files now, so missing data stops the trial before distillation."""
    for spec in specs:
        name = parse_transfer(spec)["name"]
        if name in RELEASED_SETS:
            transfer_samples(name, "test", data_root)
        elif name in ("cifar10", "cifar100"):
            load_dataset(name, "test", root=data_root)


def transfer_linear(backbone: torch.nn.Module, specs: list[str], *, ctx, image_size: int, linear_epochs: int
                    ) -> dict[str, float]:
    """Linear accuracy (%) on each transfer data set's test split in its Table A.13 measure, fitted on its
    train + val split; ``transfer_mean`` averages them."""
    out = {}
    for spec in specs:
        fit, test = transfer_splits(spec, ctx=ctx, image_size=image_size)
        per_class = accuracy_measure(spec.split(":")[0]) == "mean_per_class"
        out[metric_name(spec)] = linear_probe(*embed(backbone, fit, ctx.device), *embed(backbone, test, ctx.device),
                                              epochs=linear_epochs, seed=ctx.seed, mean_per_class=per_class)
    if out:
        out["transfer_mean"] = sum(out.values()) / len(out)
    return out
