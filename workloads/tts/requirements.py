"""What a ``tts`` trial reads from disk: ImageNet (train for the early heads, val as the test split, test as the
unlabeled stream) and, at paper scale, the RevCol backbone the paper took as given (never trained here)."""
from __future__ import annotations

from pathlib import Path

from workloads.common.requirements import (IMAGENET_FOLDER, Requirement, checkpoint_dir, checkpoint_requirement,
                                           dataset_requirement, datasets, missing_of, under_root)
from workloads.tts.config import TTSConfig

REVCOL_RELEASE = "github.com/megvii-research/RevCol (ImageNet-1k classification weights, e.g. revcol_tiny_1k.pth)"


def backbone_checkpoint(cfg: TTSConfig, data_root: str | Path, scale: str) -> Path | None:
    """The backbone + last head weights: ``checkpoint`` (relative: under the data root); at paper scale without one,
    ``<data>/checkpoints/tts/<arch>_1k.pth`` (the release's file name); ``None``: trained here (smoke/mini)."""
    if cfg.checkpoint:
        return under_root(cfg.checkpoint, data_root)
    if scale == "paper" and not cfg.heads_checkpoint:
        return checkpoint_dir(data_root, "tts") / f"{cfg.arch}_1k.pth"
    return None


def heads_checkpoint(cfg: TTSConfig, data_root: str | Path) -> Path | None:
    return under_root(cfg.heads_checkpoint, data_root) if cfg.heads_checkpoint else None


def requirements(cfg: TTSConfig, data_root: str | Path, scale: str) -> list[Requirement]:
    out = datasets(dataset_requirement(cfg.dataset, data_root, splits=("train", "test")))
    if cfg.experiment == "specialize" and cfg.stream_split == "unlabeled":
        folder = Path(data_root) / IMAGENET_FOLDER / "test"
        out.append(Requirement("data", "imagenet test (unlabeled stream)", folder, f"{IMAGENET_FOLDER}/test/*.JPEG (flat)",
                               missing_of([folder], folders=True), "ILSVRC-2012 test images from image-net.org"))
    for name, path in (("tts RevCol backbone", backbone_checkpoint(cfg, data_root, scale)),
                       ("tts early-exit model", heads_checkpoint(cfg, data_root))):
        if path is not None:
            out.append(checkpoint_requirement(f"{name} {cfg.arch}", path,
                                              "RevCol state_dict (bare or under model/state_dict/model_ema)",
                                              REVCOL_RELEASE))
    return out
