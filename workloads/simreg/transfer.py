"""Transfer evaluation: a linear classifier on frozen backbone features of another data set (Table 2.11).

The paper trains one linear layer per transfer data set on top of the frozen, distilled backbone
(Food101 ... Flowers; App. A.2.2.4). Here a transfer target is any data set the common layer loads:
``cifar10`` / ``cifar100`` (paper data on disk, resized to the source image size) or, at mini scale,
``digits-c:<corruption>:<severity>`` (digits under a corruption: a domain-shifted target that ships
with installed packages). The metric of ``digits-c:fog:5`` is ``transfer_digits_c_fog_5``.
"""
from __future__ import annotations

import re

import torch

from orchestrator.registry import ConfigError
from workloads.cmsf.evaluation import embed
from workloads.common.datasets import load_dataset
from workloads.common.knn import linear_probe

TRANSFER_SETS = ("cifar10", "cifar100", "digits-c", "synthetic")


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
        raise ConfigError(f"transfer {spec!r}: only digits-c takes ':<corruption>:<severity>'")
    return {"name": name}


def transfer_linear(backbone: torch.nn.Module, specs: list[str], *, ctx, image_size: int, linear_epochs: int
                    ) -> dict[str, float]:
    """Linear top-1 (%) on each transfer data set's test split, trained on its train split."""
    out = {}
    for spec in specs:
        kw = parse_transfer(spec)
        name = kw.pop("name")
        load = dict(root=ctx.data_root, cache_dir=ctx.cache_dir, seed=0, **kw)
        if name != "synthetic":
            load["image_size"] = image_size
        else:                                   # smoke: another draw of the synthetic classes
            load.update(n=128, seed=1)
        train = embed(backbone, load_dataset(name, "train", **load), ctx.device)
        test = embed(backbone, load_dataset(name, "test", **load), ctx.device)
        out[metric_name(spec)] = linear_probe(*train, *test, epochs=linear_epochs, seed=ctx.seed)
    return out
