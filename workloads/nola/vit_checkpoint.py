"""Pre-trained ViT backbones of the few-shot experiment (Tables 3.15/3.16) from local timm-layout checkpoints.

The authors' ``vit/train_timm.py`` (l.188-199) builds ``timm.create_model(<vit>, pretrained=True)`` at 224 px with
the checkpoint's own head and then replaces the head for the target classes (``reset_classifier``, l.249-254).
Nothing is downloaded here: the weights must be saved beforehand as a state dict in timm's key layout
(``cls_token``, ``pos_embed``, ``patch_embed.proj.*``, ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*``,
``norm.*``, ``head.*``). All key conversion of this family lives in :func:`timm_vit_state`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # vit/dataloader.py l.59-60: the authors normalise with ImageNet statistics
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Backbone:
    arch: str        # timm architecture built here (pretrained=False)
    timm_name: str   # the timm weights to save on a machine with internet
    label: str       # the table's name


# The dissertation's four backbones (Table 3.15: ViT-B / ViT-L, supervised ImageNet-21k and MAE).
BACKBONES = {
    "vit_b16_in21k": Backbone("vit_base_patch16_224", "vit_base_patch16_224.augreg_in21k", "ViT-B"),
    "vit_l16_in21k": Backbone("vit_large_patch16_224", "vit_large_patch16_224.augreg_in21k", "ViT-L"),
    "vit_b16_mae": Backbone("vit_base_patch16_224", "vit_base_patch16_224.mae", "ViT-B-MAE"),
    "vit_l16_mae": Backbone("vit_large_patch16_224", "vit_large_patch16_224.mae", "ViT-L-MAE"),
}


class CheckpointMissing(FileNotFoundError):
    """A paper-scale backbone checkpoint is not on disk (nothing is downloaded at run time)."""


def default_checkpoint_path(data_root: str | Path, backbone: str) -> Path:
    """Where a backbone's weights are expected: ``$ORCHESTRATOR_DATA/checkpoints/nola/<timm name>.pt``."""
    return Path(data_root) / "checkpoints" / "nola" / f"{backbone_info(backbone).timm_name}.pt"


def backbone_info(backbone: str) -> Backbone:
    if backbone not in BACKBONES:
        raise ValueError(f"backbone={backbone!r} is not one of the dissertation's few-shot backbones; "
                         f"use one of {', '.join(BACKBONES)}.")
    return BACKBONES[backbone]


def resolve_checkpoint(checkpoint: str, data_root: str | Path, backbone: str) -> Path:
    """The checkpoint file: ``checkpoint`` (relative paths are under the data root) or the backbone's default path.
    Raises :class:`CheckpointMissing` naming the file to save and where, instead of training anything."""
    path = Path(checkpoint) if checkpoint else default_checkpoint_path(data_root, backbone)
    if not path.is_absolute():
        path = Path(data_root) / path
    if not path.is_file():
        name = backbone_info(backbone).timm_name
        raise CheckpointMissing(
            f"paper-scale few-shot adapts the pre-trained {name} backbone, but {path} does not exist. Nothing is "
            f"downloaded at run time: on a machine with internet run `import timm, torch; m = timm.create_model("
            f"'{name}', pretrained=True); torch.save(m.state_dict(), '{name}.pt')` and copy the file to {path} "
            f"(or set `checkpoint:` to where it is; relative paths are under $ORCHESTRATOR_DATA).")
    return path


def timm_vit_state(obj: dict) -> dict[str, torch.Tensor]:
    """The one key conversion of this family: unwrap ``state_dict``/``model`` nesting, strip ``module.``
    (DataParallel, as the authors save, train_timm.py l.284) and ``model.`` prefixes. Keys stay timm's."""
    for key in ("state_dict", "model", "model_state_dict"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    out = {}
    for k, v in obj.items():
        k = re.sub(r"^(module\.|model\.)+", "", k)
        out[k] = v
    if "pos_embed" not in out or "patch_embed.proj.weight" not in out:
        raise ValueError("checkpoint is not a timm ViT state dict (no pos_embed / patch_embed.proj.weight); save it "
                         "with torch.save(timm_model.state_dict(), path).")
    return out


@dataclass(frozen=True)
class VitShape:
    image_size: int
    patch_size: int
    embed_dim: int
    depth: int
    mlp_ratio: float
    num_classes: int        # of the checkpoint's head (21843 for in21k; 0 when it has none, as MAE's)
    avg_pool: bool          # fc_norm present: mean-pooled tokens (MAE fine-tuning layout) instead of the CLS token


def vit_shape(state: dict[str, torch.Tensor]) -> VitShape:
    """Resolution, width, depth and head size read off a timm ViT state dict (pos_embed holds 1 + (img/patch)²
    tokens), so the model is built as the checkpoint was trained: 224 px and its own head."""
    patch = int(state["patch_embed.proj.weight"].shape[-1])
    embed = int(state["patch_embed.proj.weight"].shape[0])
    prefix = 1 + sum(1 for k in ("reg_token",) if k in state)
    tokens = int(state["pos_embed"].shape[1]) - prefix
    grid = math.isqrt(tokens)
    if grid * grid != tokens:
        raise ValueError(f"pos_embed has {tokens} patch tokens, not a square grid; not a square-input timm ViT.")
    depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k)))
    hidden = int(state["blocks.0.mlp.fc1.weight"].shape[0])
    classes = int(state["head.weight"].shape[0]) if "head.weight" in state else 0
    return VitShape(grid * patch, patch, embed, depth, hidden / embed, classes, "fc_norm.weight" in state)


class ResizeCrop(nn.Module):
    """The authors' evaluation transform (vit/dataloader.py l.76-77: Resize(256), CenterCrop(224)) as a module, so
    32-px tensors reach the 224-px model: shorter side to size·256/224, then the central size×size crop."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_center_crop(x, self.size)


def resize_center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of the shorter side to round(size·256/224), then a centred crop of size×size."""
    h, w = x.shape[-2:]
    short = round(size * 256 / 224)
    nh, nw = (short, round(w * short / h)) if h <= w else (round(h * short / w), short)
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[..., top:top + size, left:left + size]


def load_pretrained_vit(path: Path, arch: str, num_classes: int) -> nn.Module:
    """A timm ViT built at the checkpoint's resolution and head, the weights loaded strictly, then the head replaced
    by a fresh one for ``num_classes`` (train_timm.py l.249). Input: [0, 1] images of any size."""
    import timm

    from workloads.common.models import Normalized

    state = timm_vit_state(torch.load(path, map_location="cpu", weights_only=True))
    s = vit_shape(state)
    default_heads = {768: 12, 1024: 16, 1280: 16}
    # heads leave no trace in the weights' shapes; the paper's widths have their timm counts, others use 64-wide heads
    heads = default_heads.get(s.embed_dim, max(1, s.embed_dim // 64))
    net = timm.create_model(arch, pretrained=False, img_size=s.image_size, patch_size=s.patch_size,
                            embed_dim=s.embed_dim, depth=s.depth, num_heads=heads, mlp_ratio=s.mlp_ratio,
                            num_classes=s.num_classes, global_pool="avg" if s.avg_pool else "token",
                            fc_norm=s.avg_pool)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} does not fit timm {arch} ({s}): missing {sorted(missing)[:6]}, "
                         f"unexpected {sorted(unexpected)[:6]}. Save the weights of the same architecture "
                         "with torch.save(model.state_dict()).")
    net.reset_classifier(num_classes)
    return nn.Sequential(ResizeCrop(s.image_size), Normalized(net, IMAGENET_MEAN, IMAGENET_STD))
