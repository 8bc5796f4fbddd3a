"""Frozen teacher feature extractors: local checkpoints at paper scale, trained-and-cached ones at mini/smoke."""
from __future__ import annotations

from pathlib import Path

import torch

from orchestrator.registry import ConfigError
from workloads.cmsf.networks import Backbone
from workloads.common.datasets import dataset_info
from workloads.common.models import build_model, load_checkpoint
from workloads.common.source_model import get_source_model

SMALL_TEACHERS = ("small_cnn", "small_resnet")
# the paper's ResNet-50 teachers by name (Sec. 2.2.4, App. A.2.2.1): file under <data_root>/teachers/. Sweeps
# name them ("byol") so table rows read as the paper's teacher names.
PAPER_TEACHERS = {
    "moco_v2": ("resnet50", "moco_v2_800ep.pth"),
    "byol": ("resnet50", "byol.pth"),
    "swav": ("resnet50", "swav.pth"),
    "supervised": ("resnet50", "supervised_resnet50.pth"),
}


def parse_teacher(spec: str, scale: str, data_root: Path | str = "data") -> tuple[str, str]:
    """``spec`` -> (arch, checkpoint path or ""): ``arch@path``, a paper teacher name, ``auto`` or a small arch."""
    if spec in PAPER_TEACHERS:
        arch, name = PAPER_TEACHERS[spec]
        return arch, str(Path(data_root) / "teachers" / name)
    arch, _, ckpt = spec.partition("@")
    if arch == "auto":
        arch = "small_cnn" if scale in ("smoke", "mini") else "resnet50"
    if scale == "paper" and not ckpt:
        raise ConfigError(
            f"teacher {spec!r}: at paper scale every teacher needs a local checkpoint, written 'arch@/path/to/file.pt' "
            f"(e.g. resnet50@data/teachers/moco_v2_800ep.pth, the authors' released MoCo-v2/BYOL/SwAV/SimCLR weights "
            f"converted to a torchvision state_dict, fc included with any values), or one of the names "
            f"{', '.join(PAPER_TEACHERS)} for <data_root>/teachers/<file>. Nothing is downloaded at run time.")
    return arch, ckpt


def load_teacher(spec: str, index: int, *, dataset: str, scale: str, cache_dir: Path, device: torch.device,
                 epochs: int, data_root: Path | str = "data") -> Backbone:
    """Teacher ``index`` as a frozen feature extractor (eval mode, no gradients)."""
    arch, ckpt = parse_teacher(spec, scale, data_root)
    info = dataset_info(dataset)
    if ckpt:
        path = Path(ckpt)
        model = build_model(arch, info.num_classes, image_size=info.image_size, in_chans=info.channels,
                            mean=info.mean, std=info.std)
        # strict: a silently half-loaded teacher would make every table cell meaningless; the classifier
        # weights are loaded too (any values) and dropped by Backbone
        load_checkpoint(model, path, strict=True)
        backbone = Backbone(model)
    else:
        if arch not in SMALL_TEACHERS:
            raise ConfigError(f"teacher arch {arch!r} needs a checkpoint ('{arch}@/path.pt'); only {SMALL_TEACHERS} "
                              f"are trained here at {scale} scale.")
        # smoke: narrow teachers (trained in a second); mini: a width-64 CNN and a (32, 64, 128) ResNet
        width = ({"small_cnn": {"width": 16}, "small_resnet": {"widths": (8, 16, 32)}} if scale == "smoke" else
                 {"small_cnn": {"width": 64}, "small_resnet": {"widths": (32, 64, 128)}})[arch]
        model = get_source_model(arch, dataset, cache_dir=cache_dir, device=device, seed=index,
                                 epochs=epochs, lr=0.05, **width)
        backbone = Backbone(model)
    return backbone.to(device).eval().requires_grad_(False)
