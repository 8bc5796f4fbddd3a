"""Model builders by name and checkpoint loading.

Every builder returns a model that takes [0, 1] images and normalises them itself (``Normalize`` as
the first layer), as RobustBench models do; attacks and corruptions therefore work in pixel space.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the model."""


class Normalize(nn.Module):
    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Normalized(nn.Sequential):
    """``Normalize`` then the network; ``.net`` is the bare network (for feature extraction)."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (B, D): exactly the input of the final linear layer, for every
        builder (kNN/linear-probe evaluation and feature banks need one vector per image)."""
        return penultimate_features(self.net, self.normalize(x))


def penultimate_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The vector the classifier head of ``net`` is applied to (already normalised input ``x``)."""
    import torchvision.models as tvm

    if hasattr(net, "forward_head"):  # timm: tokens -> pooled CLS/mean token, fc_norm, before the head
        return net.forward_head(net.forward_features(x), pre_logits=True)
    if hasattr(net, "forward_features"):  # the CIFAR/small builders of this module pool already
        return net.forward_features(x)
    if isinstance(net, tvm.ResNet):
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
        return torch.flatten(net.avgpool(x), 1)
    if isinstance(net, tvm.MobileNetV2):
        return torch.flatten(F.adaptive_avg_pool2d(net.features(x), 1), 1)
    raise TypeError(f"no penultimate-feature rule for {type(net).__name__}; build it with build_model")


# ---------------------------------------------------------------------------------------------
# CIFAR architectures


class _WideBasic(nn.Module):
    """Pre-activation wide block (Zagoruyko & Komodakis), as RobustBench's WideResNet."""

    def __init__(self, cin: int, cout: int, stride: int, drop: float = 0.0):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop = drop
        self.short = None if cin == cout and stride == 1 else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv1(o)
        y = F.relu(self.bn2(y))
        if self.drop:
            y = F.dropout(y, self.drop, self.training)
        y = self.conv2(y)
        return y + (x if self.short is None else self.short(o))


class WideResNet(nn.Module):
    """WRN-depth-width for 32x32 inputs (WRN-28-10 = RobustBench CIFAR-10 "Standard")."""

    def __init__(self, depth: int = 28, width: int = 10, num_classes: int = 10, in_chans: int = 3):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False)
        layers = []
        for i, stride in enumerate((1, 2, 2)):
            blocks = [_WideBasic(widths[i] if j == 0 else widths[i + 1], widths[i + 1], stride if j == 0 else 1)
                      for j in range(n)]
            layers.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = layers
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.fc = nn.Linear(widths[3], num_classes)

    def forward_features(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return F.adaptive_avg_pool2d(F.relu(self.bn1(x)), 1).flatten(1)

    def forward(self, x):
        return self.fc(self.forward_features(x))


class _ResNeXtBottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, cardinality: int, base_width: int):
        super().__init__()
        # AugMix's CIFAR ResNeXt: group width grows with the stage (widen factor 4 → 256/512/1024 outputs)
        d = cardinality * int(base_width * cout / 256)
        self.conv_reduce = nn.Conv2d(cin, d, 1, bias=False)
        self.bn_reduce = nn.BatchNorm2d(d)
        self.conv_conv = nn.Conv2d(d, d, 3, stride, 1, groups=cardinality, bias=False)
        self.bn = nn.BatchNorm2d(d)
        self.conv_expand = nn.Conv2d(d, cout, 1, bias=False)
        self.bn_expand = nn.BatchNorm2d(cout)
        self.short = None if cin == cout and stride == 1 else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn_reduce(self.conv_reduce(x)))
        y = F.relu(self.bn(self.conv_conv(y)))
        y = self.bn_expand(self.conv_expand(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNeXtCifar(nn.Module):
    """ResNeXt-29 (32x4d) for CIFAR as used by AugMix/RobustBench CIFAR-100 "Hendrycks2020AugMix_ResNeXt"."""

    def __init__(self, depth: int = 29, cardinality: int = 32, base_width: int = 4, num_classes: int = 100,
                 in_chans: int = 3):
        super().__init__()
        n = (depth - 2) // 9
        self.conv_1_3x3 = nn.Conv2d(in_chans, 64, 3, 1, 1, bias=False)
        self.bn_1 = nn.BatchNorm2d(64)
        stages, cin = [], 64
        for i, (cout, stride) in enumerate(((256, 1), (512, 2), (1024, 2))):
            blocks = []
            for j in range(n):
                blocks.append(_ResNeXtBottleneck(cin, cout, stride if j == 0 else 1, cardinality, base_width))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stage_1, self.stage_2, self.stage_3 = stages
        self.classifier = nn.Linear(1024, num_classes)

    def forward_features(self, x):
        x = F.relu(self.bn_1(self.conv_1_3x3(x)))
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x):
        return self.classifier(self.forward_features(x))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.short = nn.Sequential() if cin == cout and stride == 1 else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs (He et al. 2016, Sec. 4.2): resnet20 = widths 16/32/64, n=3.

    ``small_resnet`` reuses it with n=1 for mini/smoke scale."""

    def __init__(self, n: int = 3, widths: Sequence[int] = (16, 32, 64), num_classes: int = 10, in_chans: int = 3):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(*[_BasicBlock(cin if j == 0 else w, w, (1 if i == 0 else 2) if j == 0 else 1)
                                          for j in range(n)]))
            cin = w
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(widths[-1], num_classes)
        self.num_features = widths[-1]

    def forward_features(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x):
        return self.fc(self.forward_features(x))


class SmallCNN(nn.Module):
    """A ~100k-parameter BatchNorm CNN for 32x32 inputs (mini/smoke source models)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3, width: int = 32):
        super().__init__()
        w = width

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.features = nn.Sequential(block(in_chans, w), block(w, w), nn.MaxPool2d(2),
                                      block(w, 2 * w), block(2 * w, 2 * w), nn.MaxPool2d(2),
                                      block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(4 * w, num_classes)
        self.num_features = 4 * w

    def forward_features(self, x):
        return self.features(x)

    def forward(self, x):
        return self.fc(self.features(x))


def _timm_vit(name: str, num_classes: int, image_size: int, in_chans: int, **kw) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=False, num_classes=num_classes, img_size=image_size, in_chans=in_chans, **kw)


def small_vit(num_classes: int = 10, image_size: int = 32, in_chans: int = 3, patch_size: int = 4, embed_dim: int = 96,
              depth: int = 6, num_heads: int = 3, mlp_ratio: float = 4.0) -> nn.Module:
    """A DeiT-style ViT for 32x32 inputs (patch 4 → 64 tokens + CLS), built with timm."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=image_size, patch_size=patch_size, in_chans=in_chans, num_classes=num_classes,
                             embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio)


PAPER_MODELS = ("wrn28_10", "resnext29_32x4d", "resnet18", "resnet50", "mobilenet_v2", "resnet20")
SMALL_MODELS = ("small_cnn", "small_resnet", "small_vit")


def build_model(name: str, num_classes: int, *, image_size: int = 32, in_chans: int = 3,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None, **kw) -> nn.Module:
    """Build by name; the result normalises its [0, 1] input with ``mean``/``std`` (dataset's, by default ImageNet's)."""
    import torchvision.models as tvm

    if name == "wrn28_10":
        net = WideResNet(28, 10, num_classes, in_chans)
    elif name == "resnext29_32x4d":
        net = ResNeXtCifar(29, 4, 32, num_classes, in_chans)  # RobustBench/AugMix: cardinality 4, base width 32 (6.9M)
    elif name == "resnet20":
        net = CifarResNet(3, (16, 32, 64), num_classes, in_chans)
    elif name == "small_resnet":
        net = CifarResNet(kw.pop("blocks", 1), kw.pop("widths", (16, 32, 64)), num_classes, in_chans)
    elif name == "small_cnn":
        net = SmallCNN(num_classes, in_chans, kw.pop("width", 32))
    elif name == "small_vit":
        net = small_vit(num_classes, image_size, in_chans, **kw)
    elif name in ("resnet18", "resnet50", "mobilenet_v2"):
        net = getattr(tvm, name)(weights=None, num_classes=num_classes)
    elif name.startswith(("vit_", "deit_")):
        net = _timm_vit(name, num_classes, image_size, in_chans, **kw)
    else:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(PAPER_MODELS + SMALL_MODELS)} and timm vit_*/deit_* names")
    if mean is None or std is None:
        mean, std = ((0.5,) * in_chans, (0.25,) * in_chans) if in_chans != 3 else ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return Normalized(net, mean, std)


def _strip(state: dict, prefixes: Sequence[str]) -> dict:
    out = {}
    for k, v in state.items():
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p):]
        out[k] = v
    return out


def read_state_dict(path: str | Path, nested: tuple[str, ...] = ("state_dict", "model", "net", "model_state_dict",
                                                                  "state_dict_ema"), source: str = "") -> dict:
    """The state dict in a local checkpoint file, loaded with ``weights_only=True`` (a pickle cannot run code),
    taken from under the first of ``nested`` keys it is saved under, if any; prefixes are left to the caller.
    A missing, unreadable or non-dict file is a ``CheckpointError`` naming the path; ``source`` (where the weights
    come from) is added to the missing-file message."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist. Give the path of a local .pt/.pth file"
                              f"{' (' + source + ')' if source else ''}; nothing is downloaded.")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {p} cannot be read as plain weights ({type(exc).__name__}: {exc}). It is "
                              f"corrupt, not a PyTorch weights file, or it pickles training objects: re-export only "
                              f"the weights with torch.save(model.state_dict(), path).") from None
    for key in nested:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {p} holds a {type(obj).__name__}, not a state_dict")
    return obj


def load_checkpoint(model: nn.Module, path: str | Path, strict: bool = True) -> nn.Module:
    """Load weights saved as a bare state_dict or under ``state_dict``/``model``/``net`` keys, with or without
    ``module.`` (DataParallel) prefixes, into ``model`` or its ``.net`` (when the model is ``Normalized``)."""
    p = Path(path)
    obj = read_state_dict(p)
    state = _strip(obj, ("module.", "model."))
    target = model
    own = set(model.state_dict())
    if isinstance(model, Normalized) and not (set(state) & own):
        target = model.net
        own = set(target.state_dict())
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"checkpoint {p} does not fit {type(target).__name__}: {len(missing)} missing keys "
            f"(e.g. {missing[:4]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:4]}). Check the architecture "
            f"name and number of classes, or load with strict=False.")
    try:
        target.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {p}: shapes do not match the model ({str(exc).splitlines()[0]}...)") from None
    return model
