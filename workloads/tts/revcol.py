"""RevCol backbone with an exit head on every column (TTS paper Sec. 3.1-3.2, Fig. 2).

Module and parameter names match the official RevCol code (``stem``, ``subnet{i}.level{l}.fusion``,
``subnet{i}.alpha{l}``, ``cls_blocks.{i}.classifier``), so released checkpoints load directly
(:mod:`workloads.tts.checkpoint`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from workloads.common.models import Normalize
from workloads.tts.layers import ConvNextBlock, LayerNorm2d, UpSample
from workloads.tts.reversible import column_forward, reversible_column


@dataclass(frozen=True)
class RevColSpec:
    """Size of a RevCol: per-level widths and block counts, number of columns, stem patch size."""

    channels: tuple[int, ...]
    layers: tuple[int, ...]
    columns: int
    stem_stride: int = 4
    kernel_size: int = 3


ARCHS: dict[str, RevColSpec] = {
    # RevCol-T, as in the official code (models/revcol.py, revcol_tiny): 4 columns, 4.5 GFLOPs at 224 px
    "revcol_tiny": RevColSpec((64, 128, 256, 512), (2, 2, 4, 2), 4, stem_stride=4),
    # mini scale (32 px digits): RevCol-T's structure (4x4 patch stem, 4 levels, 4 columns), narrower and shallower
    "revcol_mini": RevColSpec((16, 32, 64, 96), (1, 1, 2, 1), 4, stem_stride=4),
    # smoke scale: the smallest net with the full 4-level, multi-column structure
    "revcol_micro": RevColSpec((8, 16, 24, 32), (1, 1, 1, 1), 4, stem_stride=2),
}


class Fusion(nn.Module):
    """Input of a level: the lower level of the current column (down-sampled 2×, except at level 0) plus,
    from the second column on, the upper level of the previous column (up-sampled 2×)."""

    def __init__(self, level: int, channels: tuple[int, ...], first_col: bool):
        super().__init__()
        self.down = (nn.Sequential(nn.Conv2d(channels[level - 1], channels[level], 2, stride=2),
                                   LayerNorm2d(channels[level])) if level > 0 else nn.Identity())
        self.up = (UpSample(channels[level + 1], channels[level])
                   if not first_col and level + 1 < len(channels) else None)

    def forward(self, lower: torch.Tensor, upper: torch.Tensor | None) -> torch.Tensor:
        x = self.down(lower)
        if self.up is not None and upper is not None:
            x = x + self.up(upper)
        return x


class Level(nn.Module):
    """``L_l`` of the reversible unit: fusion followed by ConvNeXt blocks."""

    def __init__(self, level: int, spec: RevColSpec, first_col: bool):
        super().__init__()
        self.fusion = Fusion(level, spec.channels, first_col)
        self.blocks = nn.Sequential(*[ConvNextBlock(spec.channels[level], spec.kernel_size)
                                      for _ in range(spec.layers[level])])

    def forward(self, lower: torch.Tensor, upper: torch.Tensor | None) -> torch.Tensor:
        return self.blocks(self.fusion(lower, upper))


class Column(nn.Module):
    """One RevCol column (``SubNet`` in the official code): K levels and K reversible shortcut scales."""

    ALPHA_MIN = 1e-3  # |alpha| floor: the backward divides by alpha (as the official code clamps it)

    def __init__(self, spec: RevColSpec, first_col: bool, reversible: bool = True):
        super().__init__()
        self.first_col = first_col
        self.reversible = reversible
        self.num_levels = len(spec.channels)
        for l, ch in enumerate(spec.channels):
            self.register_parameter(f"alpha{l}", nn.Parameter(0.5 * torch.ones(1, ch, 1, 1)))
            self.add_module(f"level{l}", Level(l, spec, first_col))

    @property
    def levels(self) -> list[Level]:
        return [getattr(self, f"level{l}") for l in range(self.num_levels)]

    @property
    def alphas(self) -> list[nn.Parameter]:
        return [getattr(self, f"alpha{l}") for l in range(self.num_levels)]

    def forward(self, x: torch.Tensor, old: list[torch.Tensor] | None, stop=None) -> list[torch.Tensor] | None:
        """``stop``: see :func:`~workloads.tts.reversible.column_forward` (inference only: the exit pass gives up
        a column as soon as it learns that every sample has already left)."""
        if self.training:  # alphas only move while training; inference skips the 2K small clamp ops
            with torch.no_grad():
                for a in self.alphas:
                    a.copy_(a.sign().where(a != 0, torch.ones_like(a)) * a.abs().clamp_min(self.ALPHA_MIN))
        old = None if self.first_col else old
        if self.reversible and torch.is_grad_enabled():
            return reversible_column(self.levels, self.alphas, x, old)
        return column_forward(self.levels, self.alphas, x, old, stop)


class ExitHead(nn.Module):
    """Classification head of RevCol (global average pool, LayerNorm, Linear); every exit uses it (Sec. 3.2)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.classifier = nn.Sequential(nn.LayerNorm(channels, eps=1e-6), nn.Linear(channels, num_classes))

    @staticmethod
    def pool(top: torch.Tensor) -> torch.Tensor:
        return top.mean(dim=(2, 3))

    def forward(self, top: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(top))


class EarlyExitRevCol(nn.Module):
    """RevCol with an exit after every column. ``forward`` is the plain model (all columns, last head:
    the paper's *baseline*); :mod:`workloads.tts.early_exit` runs it adaptively."""

    def __init__(self, spec: RevColSpec, num_classes: int, in_chans: int = 3,
                 mean: tuple[float, ...] = (0.485, 0.456, 0.406), std: tuple[float, ...] = (0.229, 0.224, 0.225),
                 reversible: bool = True):
        super().__init__()
        self.spec = spec
        self.num_classes = num_classes
        self.normalize = Normalize(mean, std)
        c0 = spec.channels[0]
        self.stem = nn.Sequential(nn.Conv2d(in_chans, c0, spec.stem_stride, stride=spec.stem_stride), LayerNorm2d(c0))
        for i in range(spec.columns):
            self.add_module(f"subnet{i}", Column(spec, first_col=i == 0, reversible=reversible))
        self.cls_blocks = nn.ModuleList([ExitHead(spec.channels[-1], num_classes) for _ in range(spec.columns)])
        self.apply(_init_weights)

    @property
    def num_exits(self) -> int:
        return self.spec.columns

    def column(self, i: int) -> Column:
        return getattr(self, f"subnet{i}")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised input through the stem: the ``x`` every column receives."""
        return self.stem(self.normalize(x))

    def backbone_parameters(self) -> list[nn.Parameter]:
        heads = {id(p) for p in self.cls_blocks.parameters()}
        return [p for p in self.parameters() if id(p) not in heads]

    def column_tops(self, x: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        """Top-level features of columns 0..upto (all by default): the inputs of the exit heads."""
        stem = self.embed(x)
        feats, tops = None, []
        for i in range(self.num_exits if upto is None else upto + 1):
            feats = self.column(i)(stem, feats)
            tops.append(feats[-1])
        return tops

    def forward_exits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every exit (training the heads, evaluating fixed exits in one pass)."""
        return [head(top) for head, top in zip(self.cls_blocks, self.column_tops(x))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls_blocks[-1](self.column_tops(x)[-1])


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


def build_revcol(arch: str, num_classes: int, *, in_chans: int = 3, mean=None, std=None, columns: int = 0,
                 reversible: bool = True) -> EarlyExitRevCol:
    """A RevCol by preset name; ``columns > 0`` overrides the number of columns (= exits)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown RevCol size {arch!r}; choose one of {', '.join(ARCHS)}")
    spec = ARCHS[arch]
    if columns:
        if columns < 2:
            raise ValueError(f"an early-exit RevCol needs at least 2 columns (one early exit), got columns={columns}")
        spec = RevColSpec(spec.channels, spec.layers, columns, spec.stem_stride, spec.kernel_size)
    kw = {}
    if mean is not None and std is not None:
        kw = {"mean": tuple(mean), "std": tuple(std)}
    return EarlyExitRevCol(spec, num_classes, in_chans, reversible=reversible, **kw)
