"""Features of a student's intermediate CNN stages for k-NN (dissertation App. A.2.1.4, Table A.17).

Conv-1 (the stem: conv, BN, ReLU, max-pool, the released ``models/resnet.py`` ``out_dict['l1']``) and each
residual stage's output (``l2``..``l5``) are reduced spatially "so that the feature lengths are roughly the same
throughout the backbone" as the pooled backbone feature, then vectorised. The released code has no reduction step
(its ``forward(layer=k)`` returns the raw maps); here it is an adaptive average pool to a g x g grid with
C * g^2 closest to the backbone width (docs/FIDELITY.md, SimReg).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.registry import ConfigError
from workloads.common.models import CifarResNet, SmallCNN


def pooled_grid(channels: int, target_dim: int) -> int:
    """Side g of the pooling grid with ``channels * g**2`` closest to ``target_dim`` (at least 1)."""
    return max(1, round(math.sqrt(target_dim / channels)))


def reduce_map(fmap: torch.Tensor, target_dim: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C * g * g): adaptive average pool to ``pooled_grid(C, target_dim)``, then flatten."""
    g = min(pooled_grid(fmap.shape[1], target_dim), fmap.shape[-1], fmap.shape[-2])
    return F.adaptive_avg_pool2d(fmap, g).flatten(1)


def stage_modules(net: nn.Module) -> list[tuple[str, nn.Module, bool]]:
    """(name, module, read its input instead of its output) for the stem and every stage: ``stage0`` is Conv-1,
    ``stage<j>`` the j-th residual stage (ResBlk-j). torchvision ResNets: max-pool, layer1..4; the CIFAR ResNets
    here: the stem's ReLU output (the input of the first stage), then each stage; the small CNN: its first conv
    block, the two pooled stages and the last block before the global pool."""
    if hasattr(net, "layer4") and hasattr(net, "maxpool"):
        return [("stage0", net.maxpool, False)] + [(f"stage{j}", getattr(net, f"layer{j}"), False) for j in range(1, 5)]
    if isinstance(net, CifarResNet):
        return [("stage0", net.layers, True)] + [(f"stage{j + 1}", m, False) for j, m in enumerate(net.layers)]
    if isinstance(net, SmallCNN):
        f = net.features
        return [("stage0", f[0], False), ("stage1", f[2], False), ("stage2", f[5], False), ("stage3", f[6], False)]
    raise ConfigError(f"stage_knn (Table A.17) needs a ResNet or small CNN student; {type(net).__name__} has no "
                      f"stages this evaluation knows. Use student resnet18 (paper), small_resnet or small_cnn.")


class StageFeatures(nn.Module):
    """The backbone run up to its output, returning one stage's reduced feature map instead (a forward hook)."""

    def __init__(self, backbone: nn.Module, module: nn.Module, read_input: bool, target_dim: int):
        super().__init__()
        self.backbone, self.module, self.read_input, self.target_dim = backbone, module, read_input, target_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen: list[torch.Tensor] = []
        if self.read_input:
            handle = self.module.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
        else:
            handle = self.module.register_forward_hook(lambda m, args, out: seen.append(out))
        try:
            self.backbone(x)
        finally:
            handle.remove()
        return reduce_map(seen[0], self.target_dim)


def stage_extractors(backbone: nn.Module, target_dim: int) -> dict[str, StageFeatures]:
    """One feature extractor per stage of a ``Backbone`` (``backbone.model.net`` is the bare network)."""
    return {name: StageFeatures(backbone, m, pre, target_dim) for name, m, pre in stage_modules(backbone.model.net)}
