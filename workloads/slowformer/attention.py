"""One timm ViT block run on a subset of tokens (and heads), returning what the efficient ViTs read.

Dropped tokens are excluded as keys and their state is carried unchanged, which computes exactly what
physically removing them would (the cost ``compute.py`` charges); the dense case reproduces timm's block.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn


def run_block(block: nn.Module, x: torch.Tensor, token_mask: torch.Tensor | None = None,
              head_mask: torch.Tensor | None = None,
              select: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns (new tokens (B, N, D), attention (B, H, N, N), values (B, H, N, d)).

    ``token_mask`` (B, N) bool: tokens that run this block; ``head_mask`` (B, H) in {0, 1}: heads kept.
    ``select(attn, v)`` → (B, N) bool, a subset of ``token_mask``: ATS samples inside the block, after the
    attention matrix, so only the selected tokens get the attention output, projection and MLP; the others
    leave the block unchanged (and are excluded from later blocks by the caller)."""
    attn_mod = block.attn
    b, n, d = x.shape
    heads = attn_mod.num_heads
    y = block.norm1(x)
    qkv = attn_mod.qkv(y).reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = attn_mod.q_norm(q), attn_mod.k_norm(k)
    scores = (q * attn_mod.scale) @ k.transpose(-2, -1)
    if token_mask is not None:
        scores = scores.masked_fill(~token_mask[:, None, None, :], float("-inf"))
    attn = scores.softmax(dim=-1)
    if select is not None:
        token_mask = select(attn, v)
    out = attn_mod.attn_drop(attn) @ v
    if head_mask is not None:
        out = out * head_mask[:, :, None, None].to(out)
    out = out.transpose(1, 2).reshape(b, n, -1)
    out = attn_mod.proj_drop(attn_mod.proj(attn_mod.norm(out)))
    x_new = x + block.drop_path1(block.ls1(out))
    x_new = x_new + block.drop_path2(block.ls2(block.mlp(block.norm2(x_new))))
    if token_mask is not None:
        x_new = torch.where(token_mask[..., None], x_new, x)
    return x_new, attn, v
