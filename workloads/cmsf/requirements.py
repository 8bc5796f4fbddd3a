"""What a ``cmsf`` trial reads from disk: its training/evaluation set and, for the coarse-label study (Table 2.5), a
coarse map given as ``coarse_map`` (relative: under the data root; empty: the WordNet map shipped in the package).
CMSF learns its encoder from scratch, so nothing is a checkpoint."""
from __future__ import annotations

from pathlib import Path

from workloads.cmsf.config import CmsfConfig
from workloads.common.requirements import Requirement, dataset_requirement, datasets, missing_of, under_root


def coarse_map_file(cfg: CmsfConfig, data_root: str | Path) -> str:
    """The coarse map's path as ``workloads.cmsf.labels.coarse_labels`` takes it ("" = the data set's built-in map)."""
    return str(under_root(cfg.coarse_map, data_root)) if cfg.coarse_map else ""


def requirements(cfg: CmsfConfig, data_root: str | Path, scale: str) -> list[Requirement]:
    out = datasets(dataset_requirement(cfg.dataset, data_root, splits=("train", "test")))
    if cfg.method == "cmsf_sup" and cfg.coarse and cfg.coarse_map:
        path = Path(coarse_map_file(cfg, data_root))
        out.append(Requirement("data", "cmsf coarse label map", path, "JSON list: one coarse class id per fine class",
                               missing_of([path]), "python -m workloads.cmsf.coarse_imagenet"))
    return out
