"""The building blocks of a RevCol column (Cai et al., "Reversible Column Networks", ICLR 2023, Sec. 3).

Parameter names follow the official implementation (``dwconv``, ``pwconv1``, ``gamma``, ...) so that its
released ImageNet checkpoints load into :mod:`workloads.tts.revcol` without renaming.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an (N, C, H, W) tensor (ConvNeXt's ``channels_first`` norm)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNextBlock(nn.Module):
    """ConvNeXt block, RevCol's building unit: depthwise k×k conv, LayerNorm, 4× MLP, layer scale, residual.

    No stochastic depth: a reversible backward recomputes each block and must see the same function as
    the forward pass; the paper only fine-tunes heads, and mini-scale training does without it."""

    def __init__(self, channels: int, kernel_size: int = 3, expansion: int = 4, layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Linear(channels, expansion * channels)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(expansion * channels, channels)
        self.gamma = nn.Parameter(layer_scale * torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # channels-last for the LayerNorm and the 1×1 "convs"
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class UpSample(nn.Module):
    """Top-down path of a fusion unit: channel projection + LayerNorm, then nearest 2× upsampling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.channel_reschedule = nn.Sequential(nn.Linear(in_channels, out_channels),
                                                nn.LayerNorm(out_channels, eps=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.channel_reschedule(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
