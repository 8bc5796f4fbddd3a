"""Test streams: continual (CTTA) and gradual (GTTA) corruption streams, and class-subset streams (TTS)."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch.utils.data import Dataset, Subset

from workloads.common.corruptions import CORRUPTIONS, check_names
from workloads.common.datasets import load_dataset

GRADUAL_SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5, 4, 3, 2, 1)


@dataclass
class StreamBatch:
    task: str
    severity: int
    x: torch.Tensor
    y: torch.Tensor


def _corrupted(dataset: str, corruption: str, severity: int, root, cache_dir, seed: int, n: int | None) -> Dataset:
    if dataset == "synthetic":
        # smoke: a per-(corruption, severity) shifted copy of the synthetic test set (noise grows with severity)
        base = load_dataset("synthetic", "test", seed=seed, n=n or 64)
        x, y = base.tensors
        # zlib.crc32, not hash(): str hashes are salted per process, and every trial must see the same stream
        g = torch.Generator().manual_seed(zlib.crc32(f"{corruption}/{severity}/{seed}".encode()))
        x = (x + 0.08 * severity * torch.randn(x.shape, generator=g)).clamp(0, 1)
        return torch.utils.data.TensorDataset(x, y)
    return load_dataset(dataset, "test", root=root, cache_dir=cache_dir, seed=seed, corruption=corruption,
                        severity=severity, n=n)


def ctta_stream(dataset: str, *, root: str | Path | None = None, cache_dir: str | Path | None = None, batch_size: int,
                seed: int = 0, severity: int = 5, corruptions: Sequence[str] = CORRUPTIONS, gradual: bool = False,
                max_batches_per_task: int | None = None, n_per_task: int | None = None) -> Iterator[StreamBatch]:
    """CoTTA's continual protocol: the 15 corruptions in order at ``severity`` (never reset between tasks).

    ``gradual=True`` is GTTA: every corruption is visited at severities 1→2→3→4→5→4→3→2→1. Each task's
    samples are shuffled with a seed fixed by (seed, task), so all methods see the same stream."""
    names = check_names(corruptions)
    dataset = {"digits": "digits-c", "cifar10": "cifar10c", "cifar100": "cifar100c", "imagenet": "imagenetc"}.get(dataset, dataset)
    for t, name in enumerate(names):
        for sev in (GRADUAL_SEVERITIES if gradual else (severity,)):
            ds = _corrupted(dataset, name, sev, root, cache_dir, seed, n_per_task)
            g = torch.Generator().manual_seed(seed * 1000 + t * 10 + sev)
            order = torch.randperm(len(ds), generator=g)
            if n_per_task:
                order = order[:n_per_task]
            for b, start in enumerate(range(0, len(order), batch_size)):
                if max_batches_per_task is not None and b >= max_batches_per_task:
                    break
                idx = order[start:start + batch_size]
                items = [ds[int(i)] for i in idx]
                x = torch.stack([it[0] for it in items])
                y = torch.tensor([int(it[1]) for it in items], dtype=torch.long)
                yield StreamBatch(name, sev, x, y)


# ImageNet-1k class indices (standard sorted-wnid order) of the TTS paper's six subsets. The paper gives
# only names and class counts (Fig. 4); these lists are our reconstruction from ILSVRC-2012's WordNet
# hierarchy with exactly those counts: snakes idx 52-68 (thunder snake … sidewinder, 17); sharks 2-4
# (great white, tiger, hammerhead, 3); insects 300-326 (tiger beetle … lycaenid, 27); dogs 151-268
# (Chihuahua … Mexican hairless, 118); fruits/vegetables 936-956 (head cabbage … custard apple, 21);
# vehicles: 42 road/rail/tracked vehicle classes (ambulance … trailer truck).
TTS_IMAGENET_SUBSETS: dict[str, list[int]] = {
    "snakes": list(range(52, 69)),
    "sharks": [2, 3, 4],
    "insects": list(range(300, 327)),
    "dogs": list(range(151, 269)),
    "fruits_vegetables": list(range(936, 957)),
    "vehicles": [407, 408, 436, 444, 466, 468, 511, 547, 555, 561, 565, 569, 573, 575, 586, 595, 603, 609, 612, 627,
                 654, 656, 661, 665, 670, 671, 675, 705, 717, 734, 751, 757, 779, 802, 803, 817, 820, 829, 847, 864,
                 866, 867],
}
# digits analogue (mini): groups of visually related digits
DIGITS_SUBSETS: dict[str, list[int]] = {"round": [0, 6, 8, 9], "straight": [1, 4, 7], "curvy": [2, 3, 5]}


def class_subset_split(dataset: Dataset, classes: Sequence[int], n_stream_per_class: int, seed: int = 0
                       ) -> tuple[Subset, Subset, Subset]:
    """(stream, held-out, other-classes) views of a labelled test set for test-time specialization."""
    if hasattr(dataset, "tensors"):
        labels = dataset.tensors[1].tolist()
    elif hasattr(dataset, "targets"):
        labels = list(dataset.targets)
    else:
        labels = [int(dataset[i][1]) for i in range(len(dataset))]
    g = torch.Generator().manual_seed(seed)
    wanted = set(int(c) for c in classes)
    stream, held = [], []
    for c in sorted(wanted):
        idx = [i for i, y in enumerate(labels) if y == c]
        idx = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
        stream += idx[:n_stream_per_class]
        held += idx[n_stream_per_class:]
    other = [i for i, y in enumerate(labels) if y not in wanted]
    stream = [stream[j] for j in torch.randperm(len(stream), generator=g).tolist()]
    return Subset(dataset, stream), Subset(dataset, held), Subset(dataset, other)
