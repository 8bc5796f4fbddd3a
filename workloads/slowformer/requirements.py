"""What a ``slowformer`` trial reads from disk: its data set and, at paper scale, the victims the paper took as given
(the DeiT release and the authors' A-ViT / AdaViT models; ATS is parameter-free and runs on the DeiT weights).

Default files (paper scale, or ``require_checkpoints``) under ``<data>/checkpoints/slowformer/``: the DeiT release's
own file name (``deit_tiny_patch16_224-a1311bcf.pth``) and ``<method>/<arch>.pth``; on another data set than
ImageNet ``<arch>-<dataset>.pth`` and ``<method>/<arch>-<dataset>.pth``. Relative paths are under the data root.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from workloads.common.requirements import (Requirement, checkpoint_dir, checkpoint_requirement, dataset_requirement,
                                           datasets, under_root)
from workloads.slowformer.config import SlowFormerConfig

DEIT_URLS = {
    "deit_tiny_patch16_224": "https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth",
    "deit_small_patch16_224": "https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth",
    "deit_base_patch16_224": "https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth",
}
EFFICIENT_METHODS = ("avit", "adavit")  # the ones with weights of their own


def release_source(cfg: SlowFormerConfig, what: str) -> str:
    """Where the file a trial needs comes from. ImageNet: the DeiT release, NVlabs/A-ViT's weights, an AdaViT
    ada_step_deit_* model. Other data sets (Table 4.2, CIFAR-10): nobody distributes these models; the paper
    fine-tuned them at 224 px (App. C.4), so the text says how to make one in the expected layout."""
    if cfg.dataset == "imagenet":
        if what == "checkpoint":
            return DEIT_URLS.get(cfg.arch, "the facebookresearch/deit release of this architecture")
        return "NVlabs/A-ViT a-vit-weights.tar.gz" if cfg.method == "avit" else "an ada_step_deit_* AdaViT checkpoint"
    model = f"{cfg.arch}" if what == "checkpoint" else f"{cfg.method} {cfg.arch}"
    return (f"not distributed: fine-tune {model} on {cfg.dataset} at 224 px (resize 256, centre crop 224, ImageNet "
            f"mean/std: avit/datasets.py) with the DeiT{'' if what == 'checkpoint' else ' / ' + cfg.method} recipe "
            f"and save {{'model': state_dict}} ({cfg.dataset}'s class count in the head) at this path")


def checkpoints_required(cfg: SlowFormerConfig, scale: str) -> bool:
    """Paper scale never trains a victim here, whatever ``require_checkpoints`` says."""
    return cfg.require_checkpoints or scale == "paper"


def default_dense_checkpoint(cfg: SlowFormerConfig, data_root: str | Path) -> Path:
    folder = checkpoint_dir(data_root, "slowformer")
    if cfg.dataset == "imagenet" and cfg.arch in DEIT_URLS:
        return folder / DEIT_URLS[cfg.arch].rsplit("/", 1)[1]
    return folder / (f"{cfg.arch}.pth" if cfg.dataset == "imagenet" else f"{cfg.arch}-{cfg.dataset}.pth")


def default_efficient_checkpoint(cfg: SlowFormerConfig, data_root: str | Path) -> Path:
    name = f"{cfg.arch}.pth" if cfg.dataset == "imagenet" else f"{cfg.arch}-{cfg.dataset}.pth"
    return checkpoint_dir(data_root, "slowformer") / cfg.method / name


def resolved(cfg: SlowFormerConfig, data_root: str | Path, scale: str) -> SlowFormerConfig:
    """``cfg`` with both weight paths resolved by the rule above (empty where they are trained here)."""
    dense = under_root(cfg.checkpoint, data_root) if cfg.checkpoint else None
    eff = under_root(cfg.efficient_checkpoint, data_root) if cfg.efficient_checkpoint else None
    if checkpoints_required(cfg, scale):
        dense = dense or default_dense_checkpoint(cfg, data_root)
        if cfg.method in EFFICIENT_METHODS:
            eff = eff or default_efficient_checkpoint(cfg, data_root)
    return dataclasses.replace(cfg, checkpoint=str(dense) if dense else "", efficient_checkpoint=str(eff) if eff else "")


def requirements(cfg: SlowFormerConfig, data_root: str | Path, scale: str) -> list[Requirement]:
    out = datasets(dataset_requirement(cfg.dataset, data_root, splits=("train", "test")))
    cfg = resolved(cfg, data_root, scale)
    if cfg.checkpoint:
        out.append(checkpoint_requirement(f"slowformer dense {cfg.arch}", Path(cfg.checkpoint),
                                          "DeiT release: {'model': timm VisionTransformer state_dict}",
                                          release_source(cfg, "checkpoint")))
    if cfg.efficient_checkpoint:
        layout = ("A-ViT release (timm VisionTransformer names)" if cfg.method == "avit" else
                  "AdaViT ada_step_deit_* state_dict (UCDvision/SlowFormer ada_vit/)")
        out.append(checkpoint_requirement(f"slowformer {cfg.method} {cfg.arch}", Path(cfg.efficient_checkpoint), layout,
                                          release_source(cfg, "efficient_checkpoint")))
    return out
