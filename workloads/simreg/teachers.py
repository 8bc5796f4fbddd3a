"""Frozen teacher feature extractors: local checkpoints at paper scale, trained-and-cached ones at mini/smoke."""
from __future__ import annotations

from pathlib import Path

import torch

from orchestrator.registry import ConfigError
from workloads.cmsf.networks import Backbone
from workloads.common.datasets import dataset_info
from workloads.common.models import build_model, load_checkpoint
from workloads.common.source_model import get_source_model
from workloads.simreg.requirements import PAPER_TEACHERS, TEACHER_HINT, teacher_file

SMALL_TEACHERS = ("small_cnn", "small_resnet")


def parse_teacher(spec: str, scale: str, data_root: Path | str) -> tuple[str, str]:
    """``spec`` -> (arch, checkpoint path or ""): ``arch@path``, a paper teacher name, ``auto`` or a small arch.
    Paths follow the rule of ``workloads.simreg.requirements`` (under the data root)."""
    arch, path = teacher_file(spec, data_root)
    if arch == "auto":
        arch = "small_cnn" if scale in ("smoke", "mini") else "resnet50"
    if scale == "paper" and path is None:
        raise ConfigError(
            f"teacher {spec!r}: at paper scale every teacher needs a local checkpoint, written 'arch@path' (relative "
            f"paths are under $ORCHESTRATOR_DATA, e.g. resnet50@checkpoints/simreg/moco_v2_800ep.pth: {TEACHER_HINT}, "
            f"fc included with any values), or one of the names {', '.join(PAPER_TEACHERS)} for "
            f"<data_root>/checkpoints/simreg/<file>. Nothing is downloaded or trained at paper scale.")
    return arch, str(path) if path is not None else ""


def load_teacher(spec: str, index: int, *, dataset: str, scale: str, cache_dir: Path, device: torch.device,
                 epochs: int, data_root: Path | str) -> Backbone:
    """Teacher ``index`` as a frozen feature extractor (eval mode, no gradients)."""
    arch, ckpt = parse_teacher(spec, scale, data_root)
    info = dataset_info(dataset)
    if ckpt:
        path = Path(ckpt)
        if not path.is_file():
            raise ConfigError(f"teacher {spec!r}: checkpoint {path} not found. Put {TEACHER_HINT} there (layout: "
                              f"{arch} state_dict), or give 'arch@path'. Nothing is downloaded or trained at paper scale.")
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
