"""What a ``simreg`` trial reads from disk: the distillation set, the transfer sets and, at paper scale, the frozen
teachers the paper took as given (``<data>/checkpoints/simreg/<file>``, never trained here)."""
from __future__ import annotations

from pathlib import Path

from workloads.common.requirements import (Requirement, checkpoint_dir, checkpoint_requirement, dataset_requirement,
                                           datasets, under_root)
from workloads.common.transfer_layouts import TRANSFER_SETS, missing_files
from workloads.simreg.config import SimRegConfig

# the paper's ResNet-50 teachers by name (Sec. 2.2.4, App. A.2.2.1). Sweeps name them ("byol") so table rows read
# as the paper's teacher names.
PAPER_TEACHERS = {
    "moco_v2": ("resnet50", "moco_v2_800ep.pth"),
    "byol": ("resnet50", "byol.pth"),
    "swav": ("resnet50", "swav.pth"),
    "supervised": ("resnet50", "supervised_resnet50.pth"),
}
TEACHER_LAYOUT = "torchvision state_dict of the teacher arch (fc included, any values)"
TEACHER_HINT = ("the authors' released MoCo-v2/BYOL/SwAV weights (or torchvision's supervised ResNet-50) converted "
                "to a torchvision state_dict")


def teacher_file(spec: str, data_root: str | Path) -> tuple[str, Path | None]:
    """``spec`` -> (arch or "", checkpoint path or None): a paper teacher name is
    ``<data>/checkpoints/simreg/<file>``; ``arch@path`` takes a relative path under the data root."""
    if spec in PAPER_TEACHERS:
        arch, name = PAPER_TEACHERS[spec]
        return arch, checkpoint_dir(data_root, "simreg") / name
    arch, _, ckpt = spec.partition("@")
    return arch, (under_root(ckpt, data_root) if ckpt else None)


def requirements(cfg: SimRegConfig, data_root: str | Path, scale: str) -> list[Requirement]:
    out = datasets(dataset_requirement(cfg.dataset, data_root, splits=("train", "test")))
    for spec in cfg.transfer:
        name = spec.split(":")[0]
        if name in TRANSFER_SETS:              # Table 2.11's sets in their release layouts
            info = TRANSFER_SETS[name]
            out.append(Requirement("data", name, Path(data_root) / info.folder, info.layout,
                                   missing_files(name, data_root), info.source))
        else:
            out += datasets(dataset_requirement(name, data_root, splits=("train", "test")))
    for spec in cfg.teachers:
        arch, path = teacher_file(spec, data_root)
        if path is not None:
            out.append(checkpoint_requirement(f"simreg teacher {spec}", path, f"{TEACHER_LAYOUT}: {arch}", TEACHER_HINT))
    return out
