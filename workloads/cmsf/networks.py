"""Backbone feature extractors and MLP heads shared by CMSF and SimReg."""
from __future__ import annotations

import torch
from torch import nn

from workloads.common.models import Normalized, build_model


class Backbone(nn.Module):
    """A ``build_model`` network without its classifier: pixels in [0, 1] -> pooled features."""

    def __init__(self, model: Normalized):
        super().__init__()
        net = model.net
        if hasattr(net, "fc") and not hasattr(net, "forward_features"):
            self.dim = net.fc.in_features
            net.fc = nn.Identity()           # torchvision ResNets: pooled features before fc
        elif hasattr(net, "classifier") and not hasattr(net, "forward_features"):
            self.dim = net.classifier[-1].in_features
            net.classifier = nn.Identity()   # torchvision MobileNet-v2: pooled features before classifier
        else:
            self.dim = getattr(net, "num_features")
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.model.net
        x = self.model.normalize(x)
        return net.forward_features(x) if hasattr(net, "forward_features") else net(x)


def build_backbone(arch: str, *, num_classes: int, image_size: int, in_chans: int, mean, std) -> Backbone:
    return Backbone(build_model(arch, num_classes, image_size=image_size, in_chans=in_chans, mean=mean, std=std))


def mlp(dims: list[int], last_bn: bool = False) -> nn.Sequential:
    """Linear layers with BN + ReLU between them and none after the last (BYOL/MSF/SimReg heads)."""
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
