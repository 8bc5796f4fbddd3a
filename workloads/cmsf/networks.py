"""Backbone feature extractors and MLP heads shared by CMSF and SimReg."""
from __future__ import annotations

import torch
from torch import nn

from workloads.common.models import Normalized, build_model


def feature_dim(net: nn.Module) -> int:
    """Width of the pooled penultimate features of a ``build_model`` network (the classifier's input)."""
    if hasattr(net, "num_features"):               # timm models and this repo's small/CIFAR builders
        return int(net.num_features)
    if isinstance(getattr(net, "fc", None), nn.Linear):   # torchvision ResNets
        return net.fc.in_features
    classifier = getattr(net, "classifier", None)  # torchvision MobileNet-v2
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Linear):
        return classifier[-1].in_features
    raise TypeError(f"cannot tell the feature width of {type(net).__name__}; build it with build_model")


class Backbone(nn.Module):
    """A ``build_model`` network used as an encoder: pixels in [0, 1] -> pooled features.

    Features come from the model's own ``forward_features`` (the pooled input of its classifier, timm's
    ``forward_head(pre_logits=True)`` for ViTs) rather than from surgery on the classifier, so every
    architecture the common layer builds works and a checkpoint with its classifier still loads strictly.
    The classifier stays in the module but is never called (its parameters get no gradient)."""

    def __init__(self, model: Normalized):
        super().__init__()
        self.model = model
        self.dim = feature_dim(model.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


def build_backbone(arch: str, *, num_classes: int, image_size: int, in_chans: int, mean, std, **kw) -> Backbone:
    return Backbone(build_model(arch, num_classes, image_size=image_size, in_chans=in_chans, mean=mean, std=std, **kw))


def mlp(dims: list[int], last_bn: bool = False) -> nn.Sequential:
    """Linear layers with BN + ReLU between them and none after the last (BYOL/MSF projection and predictor)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b, bias=last))
        if not last:
            layers += [nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        elif last_bn:
            layers.append(nn.BatchNorm1d(b))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Backbone + 2-layer projection MLP (the online g(.) and target f(.) encoders of Sec. 2.1.3)."""

    def __init__(self, backbone: Backbone, hidden: int, out: int):
        super().__init__()
        self.backbone = backbone
        self.projection = mlp([backbone.dim, hidden, out])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(x))
