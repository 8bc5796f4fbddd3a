"""ResNet20 for CIFAR-10 as PRANC and NOLA's from-scratch experiments build it (Table 3.17 / B.10: 269,722 weights).

He et al. (2016) Sec. 4.2 with the parameter-free "option A" shortcut (stride-2 subsampling and zero-padded
channels), as in UCDvision/PRANC models.py l.59-134 (``LambdaLayer``, ``BasicBlock(option='A')``, ``resnet20``).
The project's shared ``CifarResNet`` uses 1×1-conv shortcuts (option B, 2 extra convolutions and BNs), which
would change the 269,722 count and NOLA's 19 adapted convolutions; hence this separate, small model.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def option_a_shortcut(x: torch.Tensor, out_channels: int, stride: int) -> torch.Tensor:
    """Identity, or for a stage change every ``stride``-th pixel with the new channels zero-padded on both sides
    (PRANC models.py l.84-85: pad planes//4 channels before and after)."""
    if stride == 1 and x.shape[1] == out_channels:
        return x
    x = x[:, :, ::stride, ::stride]
    extra = out_channels - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))


class BasicBlockA(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.out_channels, self.stride = cout, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + option_a_shortcut(x, self.out_channels, self.stride))


class ResNet20A(nn.Module):
    """3 stages × ``blocks`` basic blocks, widths 16/32/64, global pooling, linear classifier (``fc``)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3, blocks: int = 3, widths=(16, 32, 64)):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(blocks):
                layers.append(BasicBlockA(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():  # PRANC models.py l.52-56: kaiming-normal convolutions and linear layers
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
