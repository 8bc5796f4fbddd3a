"""What a ``cmsf`` trial reads from disk: its training/evaluation set. CMSF learns its encoder from scratch, so
nothing is a checkpoint."""
from __future__ import annotations

from pathlib import Path

from workloads.cmsf.config import CmsfConfig
from workloads.common.requirements import Requirement, dataset_requirement, datasets


def requirements(cfg: CmsfConfig, data_root: str | Path, scale: str) -> list[Requirement]:
    return datasets(dataset_requirement(cfg.dataset, data_root, splits=("train", "test")))
