"""What a ``palm`` trial reads from disk: the corruption stream and, at paper scale, the RobustBench source model.

The source model is the one the paper took as given: at paper scale it is always a local file (``checkpoint:
auto`` = RobustBench's own ``models/<dataset>/corruptions/<file>`` layout under ``checkpoints/palm/``), never
trained here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workloads.common.corruptions import CORRUPTIONS
from workloads.common.requirements import (Requirement, checkpoint_dir, checkpoint_requirement, dataset_requirement,
                                           datasets, under_root)
from workloads.palm.config import PalmConfig

ARCH = {"synthetic": "small_cnn", "digits-c": "small_cnn", "cifar10c": "wrn28_10", "cifar100c": "resnext29_32x4d",
        "imagenetc": "resnet50"}
CLEAN = {"synthetic": "synthetic", "digits-c": "digits", "cifar10c": "cifar10", "cifar100c": "cifar100",
         "imagenetc": "imagenet"}


@dataclass(frozen=True)
class RobustBenchModel:
    name: str          # RobustBench model id
    dataset: str       # RobustBench dataset
    filename: str      # what RobustBench writes under models/<dataset>/corruptions/


ROBUSTBENCH = {
    "wrn28_10": RobustBenchModel("Standard", "cifar10", "Standard.pt"),
    "resnext29_32x4d": RobustBenchModel("Hendrycks2020AugMix_ResNeXt", "cifar100", "Hendrycks2020AugMix_ResNeXt.pt"),
    "resnet50": RobustBenchModel("Standard_R50", "imagenet", "Standard_R50.pt"),
}


def source_arch(cfg: PalmConfig) -> str:
    return ARCH[cfg.dataset] if cfg.arch == "auto" else cfg.arch


def default_source_checkpoint(data_root: str | Path, arch: str, clean: str) -> Path:
    """``<data>/checkpoints/palm/<dataset>/corruptions/<RobustBench file>`` (RobustBench's ``models/`` folder copied
    as ``checkpoints/palm``); ``<arch>-<dataset>.pt`` there for an architecture RobustBench does not ship."""
    rb = ROBUSTBENCH.get(arch)
    if rb is None:
        return checkpoint_dir(data_root, "palm") / f"{arch}-{clean}.pt"
    return checkpoint_dir(data_root, "palm") / rb.dataset / "corruptions" / rb.filename


def source_checkpoint(cfg: PalmConfig, data_root: str | Path, scale: str) -> Path | None:
    """The source model's file, or ``None`` where it is trained and cached here (smoke/mini with ``auto``)."""
    if cfg.checkpoint == "auto":
        if scale != "paper":
            return None
        return default_source_checkpoint(data_root, source_arch(cfg), CLEAN[cfg.dataset])
    return under_root(cfg.checkpoint, data_root) if cfg.checkpoint else None


def requirements(cfg: PalmConfig, data_root: str | Path, scale: str) -> list[Requirement]:
    severities = (1, 2, 3, 4, 5) if cfg.protocol == "gtta" else (cfg.severity,)  # GTTA visits every severity
    stream = dataset_requirement(cfg.dataset, data_root, splits=("test",), corruptions=CORRUPTIONS,
                                 severities=severities)
    # EcoTTA warms its meta networks up on the clean source training set before the stream (workloads/palm/ecotta.py)
    warmup = (dataset_requirement(CLEAN[cfg.dataset], data_root, splits=("train",)) if cfg.method == "ecotta"
              else None)
    out = datasets(stream, warmup)
    ckpt = source_checkpoint(cfg, data_root, scale)
    if ckpt is not None:
        arch = source_arch(cfg)
        rb = ROBUSTBENCH.get(arch)
        layout = (f"RobustBench {rb.dataset} corruptions model {rb.name!r} ({rb.filename}), or the project's state_dict"
                  if rb else f"a state_dict of {arch}")
        hint = (f"robustbench.utils.load_model('{rb.name}', dataset='{rb.dataset}', threat_model='corruptions') "
                f"writes models/{rb.dataset}/corruptions/{rb.filename}" if rb else "")
        out.append(checkpoint_requirement(f"palm source model {arch}", ckpt, layout, hint))
    return out
