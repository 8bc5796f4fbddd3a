"""Exact per-image compute of a ViT that drops tokens, heads and blocks (dissertation Tables 4.1–4.6 GFLOPs).

Each block is charged for the tokens, heads and blocks it actually ran, with the analytic block cost of
``workloads.common.flops.vit_block_flops`` (2 FLOPs per multiply-add, like FlopCounterMode); tables report
GMACs (FLOPs / 2), as the papers do. Norms, softmax, GELU and the A-ViT gate are not counted, as in
FlopCounterMode, so the dense total equals ``count_flops`` of the timm model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ViTShape:
    """What the cost depends on: token width, head width, MLP ratio, patch embedding and classifier sizes."""

    dim: int
    num_heads: int
    mlp_ratio: float
    num_patches: int
    patch_pixels: int  # C·p·p inputs of the patch-embedding projection
    num_classes: int
    depth: int

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @classmethod
    def of(cls, vit: torch.nn.Module) -> "ViTShape":
        pe = vit.patch_embed
        conv = pe.proj
        blk = vit.blocks[0]
        return cls(dim=vit.embed_dim, num_heads=blk.attn.num_heads,
                   mlp_ratio=blk.mlp.fc1.out_features / vit.embed_dim, num_patches=pe.num_patches,
                   patch_pixels=conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1],
                   num_classes=vit.num_classes, depth=len(vit.blocks))


def block_flops(tokens: torch.Tensor, shape: ViTShape, heads: torch.Tensor | None = None,
                tokens_out: torch.Tensor | None = None) -> torch.Tensor:
    """Vectorised ``vit_block_flops``: ``tokens`` and ``heads`` are per-(image, layer) counts; the attention
    width is heads·head_dim (AdaViT drops heads), the MLP always runs on the kept tokens.

    ``tokens_out`` (ATS, which samples inside the block): tokens that get the attention output, projection and
    MLP; Q, K, V and QKᵀ are computed for all ``tokens`` that entered. Equal counts give the dense formula."""
    n = tokens.double()
    m = n if tokens_out is None else tokens_out.double()
    da = (heads.double() if heads is not None else torch.full_like(n, shape.num_heads)) * shape.head_dim
    d, hidden = shape.dim, int(shape.dim * shape.mlp_ratio)
    macs = 3 * n * d * da + n * n * da + m * n * da + m * da * d + 2 * m * d * hidden
    return 2 * macs


def per_image_flops(tokens: torch.Tensor, shape: ViTShape, heads: torch.Tensor | None = None,
                    blocks: torch.Tensor | None = None, tokens_out: torch.Tensor | None = None) -> torch.Tensor:
    """FLOPs per image (B,) from tokens per layer (B, L), optional heads per layer (B, L), block-executed
    flags (B, L) and tokens leaving an ATS block (B, L): patch embedding + the blocks that ran + the classifier."""
    per_block = block_flops(tokens, shape, heads, tokens_out)
    if blocks is not None:
        per_block = per_block * blocks.double()
    embed = 2 * shape.num_patches * shape.patch_pixels * shape.dim
    head = 2 * shape.dim * shape.num_classes
    return per_block.sum(dim=1) + embed + head


def dense_flops(shape: ViTShape) -> float:
    """The non-efficient model's FLOPs per image (F_max of Attack Success)."""
    tokens = torch.full((1, shape.depth), shape.num_patches + 1)
    return float(per_image_flops(tokens, shape)[0])
