"""Compute of a ViT that drops tokens, heads and blocks (dissertation Tables 4.1–4.6 GFLOPs), two ways:
exact per image (below) and the authors' code's convention (``paper_convention_gflops`` and the AdaViT table),
which the published GFLOPs and Attack Success use.

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


# fvcore's LayerNorm count (5 per element with affine), which the paper's GFLOPs include
LAYERNORM_FLOPS_PER_ELEMENT = 5


def paper_convention_gflops(kept: list[int], shape: ViTShape) -> float:
    """GFLOPs (fvcore, i.e. GMACs) of the dense dummy model the SlowFormer code builds from token counts per
    layer: ``DynamicVisionTransformer(..., stages=…, num_tokens=kept)`` measured by fvcore ``flop_count``
    (UCDvision/SlowFormer avit/engine_act.py:326-363, avit/ats_lib/vit_model.py:202-237,
    avit/ats_lib/TokenSampler.py:215-343). Each block gathers its output down to ``kept[l]`` tokens, so it
    charges LayerNorm-1, Q/K/V and QKᵀ on the tokens entering (kept[l−1]; all N at block 0) and A·V, the
    projection, LayerNorm-2 and the MLP on kept[l]; plus the patch embedding, the final LayerNorm on kept[L−1]
    and the classifier. LayerNorms count 5 per element as fvcore does; biases, softmax and GELU are free.
    With every count N this is 1.258 for DeiT-Tiny and 4.608 for DeiT-Small (engine_act.py:279-283)."""
    if len(kept) != shape.depth:
        raise ValueError(f"{len(kept)} token counts for a {shape.depth}-block ViT; give one per block")
    d, hidden, ln = shape.dim, int(shape.dim * shape.mlp_ratio), LAYERNORM_FLOPS_PER_ELEMENT
    entering, total = shape.num_patches + 1, 0
    for n in kept:
        e = entering
        total += ln * e * d + 3 * e * d * d + e * e * d          # norm1, Q/K/V, QKᵀ on the entering tokens
        total += n * e * d + n * d * d + ln * n * d + 2 * n * d * hidden  # A·V, proj, norm2, MLP on the kept
        entering = n
    total += shape.num_patches * shape.patch_pixels * shape.dim + ln * entering * d + d * shape.num_classes
    return total / 1e9


def avit_paper_counts(mean_tokens: list[float]) -> list[int]:
    """``n_tokens = [round(item) for item in n_tokens]`` (engine_act.py:330): the mean over test images of
    the tokens each layer ran (engine_act.py:241-267), rounded half to even as Python's round."""
    return [round(float(t)) for t in mean_tokens]


def ats_paper_counts(mean_kept: list[float], ats_layers: tuple[int, ...], num_tokens: int) -> list[int]:
    """ATS's counts (UCDvision/SlowFormer AdaptiveTokenSampling/engine.py:224-250): at each ATS block the mean
    policy size (tokens kept, CLS included) *truncated* by ``int``; other blocks keep the tokens they get."""
    counts, current = [], num_tokens
    for i, m in enumerate(mean_kept):
        if i in ats_layers:
            current = int(float(m))
        counts.append(current)
    return counts


def adavit_block_flops(tokens: torch.Tensor, heads: torch.Tensor, gates: torch.Tensor, shape: ViTShape) -> torch.Tensor:
    """Exact FLOPs (2 per multiply-add) of AdaViT blocks, as if dropped tokens and heads were removed:
    attention (gate g₀) = Q/K/V, QKᵀ, A·V on the n kept tokens and the da = heads·head_dim kept channels plus the
    projection da→D; MLP (gate g₁) = fc1 reading da channels, fc2. ``tokens``, ``heads`` (B, L), ``gates``
    (B, L, 2) in {0, 1}; returns (B, L)."""
    n, da = tokens.double(), heads.double() * shape.head_dim
    d, hidden = shape.dim, int(shape.dim * shape.mlp_ratio)
    attn = 3 * n * d * da + 2 * n * n * da + n * da * d
    mlp = n * da * hidden + n * hidden * d
    return 2 * (gates[..., 0].double() * attn + gates[..., 1].double() * mlp)


def adavit_paper_block_gmacs(heads: int, tokens: int, gate_attn: int, gate_mlp: int, shape: ViTShape) -> float:
    """One entry of AdaViT's FLOPs table ``flops_dict[h, t, l₀, l₁]`` (UCDvision/SlowFormer
    ada_vit/block_flops_dict.py:34-66): fvcore on ``StepAdaBlock.forward_count_flops``
    (ada_transformer_block.py:438-511, AdaAttention.forward_count_flops 270-308) with a (1, N, D) input, N = all
    tokens: head/layer selectors D·(H+2) always; nothing more when no head is kept; with g₀ LayerNorm-1 on N,
    the token selector on N−1, Q/K/V on t tokens × da channels, QKᵀ and A·V t²·da and the projection *da×da*
    (DynaLinear truncates both sides); LayerNorm-2 on N; with g₁ fc1 da→hidden and fc2 on t tokens. GMACs."""
    d, hidden, ln, big_n = shape.dim, int(shape.dim * shape.mlp_ratio), LAYERNORM_FLOPS_PER_ELEMENT, shape.num_patches + 1
    da, t = heads * shape.head_dim, tokens
    total = d * (shape.num_heads + 2)
    if da == 0:
        return total / 1e9
    if gate_attn:
        total += ln * big_n * d + (big_n - 1) * d + 3 * t * d * da + 2 * t * t * da + t * da * da
    total += ln * big_n * d
    if gate_mlp:
        total += t * da * hidden + t * hidden * d
    return total / 1e9


def adavit_paper_gflops(tokens: torch.Tensor, heads: torch.Tensor, gates: torch.Tensor, shape: ViTShape) -> torch.Tensor:
    """AdaViT's per-image GFLOPs as ``select_flops`` (block_flops_dict.py:68-97): the table entry of each block's
    (heads kept, tokens kept, gates) plus a base for embedding, final norm and classifier, which the code
    hard-codes (0.06 for 12-block DeiT, 0.33 for T2T-ViT-19) and we compute (patch embedding + LayerNorm on N +
    head). Inputs (B, L) and (B, L, 2); returns (B,)."""
    d = shape.dim
    base = (shape.num_patches * shape.patch_pixels * d + LAYERNORM_FLOPS_PER_ELEMENT * (shape.num_patches + 1) * d
            + d * shape.num_classes) / 1e9
    out = []
    for tk, hd, gt in zip(tokens.tolist(), heads.tolist(), gates.tolist()):
        out.append(base + sum(adavit_paper_block_gmacs(int(h), int(t), int(g[0]), int(g[1]), shape)
                              for t, h, g in zip(tk, hd, gt)))
    return torch.tensor(out, dtype=torch.float64)
