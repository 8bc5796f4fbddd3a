"""Label manipulations for the supervised study (Sec. 2.1.4.2, Fig. 2.6, Table 2.5)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from workloads.cmsf.coarse_imagenet import SHIPPED_MAP, load_coarse_map


def corrupt_labels(labels: torch.Tensor, rate: float, num_classes: int, seed: int) -> torch.Tensor:
    """i.i.d. label noise: a random ``rate`` share of the images get a label drawn uniformly from the
    *other* classes (so exactly that share is wrong; Fig. 2.6 uses 5/10/25/50 %)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"label noise rate must be in [0, 1), got {rate}")
    g = torch.Generator().manual_seed(seed)
    n = labels.numel()
    flip = torch.randperm(n, generator=g)[: int(round(rate * n))]
    shift = torch.randint(1, num_classes, (flip.numel(),), generator=g)
    out = labels.clone()
    out[flip] = (labels[flip] + shift) % num_classes
    return out


# digits have no WordNet; the mini-scale coarse study merges visually similar digits into 5 groups
DIGITS_COARSE = (0, 1, 2, 3, 4, 3, 0, 1, 0, 4)  # 0,6,8 loops | 1,7 strokes | 2 | 3,5 | 4,9


def coarse_labels(labels: torch.Tensor, dataset: str, mapping_file: str = "") -> torch.Tensor:
    """Fine -> coarse labels (Table 2.5: ImageNet's 1000 classes merged to WordNet super-classes).

    ``mapping_file``: a JSON list (or an object with a ``coarse`` list) of one coarse id per fine class; empty
    means the built-in map of the data set: digits' 5 look-alike groups, or for ``imagenet`` the WordNet map
    shipped in ``workloads/cmsf/imagenet_coarse.json`` (``workloads.cmsf.coarse_imagenet``)."""
    if not mapping_file and dataset == "imagenet":
        mapping_file = str(SHIPPED_MAP)
    if mapping_file:
        path = Path(mapping_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"coarse label map {path} not found. It must be a JSON list with one coarse class id per "
                f"fine class (1000 entries for ImageNet-coarse, Table 2.5); leave coarse_map empty for ImageNet to "
                f"use the shipped WordNet map, or generate one with `python -m workloads.cmsf.coarse_imagenet`.")
        table = torch.tensor(load_coarse_map(path), dtype=torch.long)
        if int(labels.max()) >= table.numel():
            raise ValueError(f"coarse label map {path} has {table.numel()} entries but labels go up to "
                             f"{int(labels.max())}; give one entry per fine class.")
        return table[labels]
    if dataset in ("digits", "synthetic"):
        return torch.tensor(DIGITS_COARSE, dtype=torch.long)[labels]
    raise ValueError(f"coarse labels for {dataset!r} need coarse_map: a JSON list mapping each fine class to its "
                     f"super-class (Table 2.5 uses 93 WordNet super-classes of ImageNet-1k; ImageNet itself uses the "
                     f"shipped map when coarse_map is empty).")
