"""Label manipulations for the supervised study (Sec. 2.1.4.2, Fig. 2.6, Table 2.5)."""
from __future__ import annotations

import json
from pathlib import Path

import torch


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
    """Fine -> coarse labels (Table 2.5: ImageNet's 1000 classes merged to 93 WordNet super-classes)."""
    if mapping_file:
        path = Path(mapping_file)
        if not path.is_file():
            raise FileNotFoundError(
                f"coarse label map {path} not found. It must be a JSON list with one coarse class id per "
                f"fine class (1000 entries for ImageNet-coarse, Table 2.5); build it from the WordNet hierarchy "
                f"and pass its path as coarse_map, or set coarse=false.")
        table = torch.tensor(json.loads(path.read_text()), dtype=torch.long)
        if int(labels.max()) >= table.numel():
            raise ValueError(f"coarse label map {path} has {table.numel()} entries but labels go up to "
                             f"{int(labels.max())}; give one entry per fine class.")
        return table[labels]
    if dataset in ("digits", "synthetic"):
        return torch.tensor(DIGITS_COARSE, dtype=torch.long)[labels]
    raise ValueError(f"coarse labels for {dataset!r} need coarse_map: a JSON list mapping each fine class to its "
                     f"super-class (Table 2.5 uses 93 WordNet super-classes of ImageNet).")
