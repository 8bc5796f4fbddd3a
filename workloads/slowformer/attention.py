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


# Masked_Attention's additive bias for halted keys (act_vision_transformer.py:170, 195): finite, so a row whose
# keys are all halted stays a (uniform) softmax instead of NaN
MASKED_SOFTMAX_BIAS = -1000.0


def act_block(block: nn.Module, x: torch.Tensor, running: torch.Tensor) -> torch.Tensor:
    """One A-ViT block with its token mask, as ``Block_ACT.forward_act`` (UCDvision/SlowFormer
    avit/timm/models/act_vision_transformer.py:244-255, = NVlabs/A-ViT): halted tokens (``running`` False) enter
    norm1 and norm2 as zeros and leave them multiplied by 0, and their keys get a −1000 softmax bias. Every token
    still gets an output (halted ones from bias terms only): A-ViT reads a halting score off all of them.
    ``x`` (B, N, D) is the state with halted tokens already zeroed; returns the new state (B, N, D)."""
    keep = running.to(x.dtype)
    m = keep[..., None]
    a = block.attn
    b, n, _ = x.shape
    qkv = a.qkv(block.norm1(x * m) * m).reshape(b, n, 3, a.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = a.q_norm(q), a.k_norm(k)
    scores = (q @ k.transpose(-2, -1)) * a.scale + (1.0 - keep)[:, None, None, :] * MASKED_SOFTMAX_BIAS
    out = (a.attn_drop(scores.softmax(dim=-1)) @ v).transpose(1, 2).reshape(b, n, -1)
    x = x + block.drop_path1(block.ls1(a.proj_drop(a.proj(a.norm(out)))))
    return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x * m) * m)))


def adavit_block(block: nn.Module, x: torch.Tensor, token_keep: torch.Tensor, head_keep: torch.Tensor,
                 gates: torch.Tensor) -> torch.Tensor:
    """One AdaViT block as ``StepAdaBlock.forward`` with --ada-head --ada-layer --ada-token-with-mlp
    (UCDvision/SlowFormer ada_vit/models/ada_transformer_block.py:513-571, AdaAttention.forward 310-365,
    SimpleTokenSelect 64-103, DynaLinear 182-229):

    - ``head_keep`` (B, H): a dropped head's channels are zeroed in q, k and v (weights and biases), at the
      projection's input and at the MLP's fc1 input (its norm2 output channels);
    - ``token_keep`` (B, N), CLS = 1: before the softmax, pairs not both kept get −inf except the diagonal, so
      kept tokens attend to kept tokens and a dropped token to itself; the attention and MLP outputs of
      dropped tokens are multiplied by their (straight-through) decision;
    - ``gates`` (B, 2): x + g₀·attention, then + g₁·MLP.
    The mask of the softmax uses the hard decisions (the official detaches it; we also avoid its float test
    1 − s_i s_j > 0 on straight-through values)."""
    a = block.attn
    b, n, d = x.shape
    heads = a.num_heads
    width = head_keep.repeat_interleave(d // heads, dim=1)[:, None, :]  # (B, 1, D)
    qkv = a.qkv(block.norm1(x)).reshape(b, n, 3, d) * width[:, :, None, :]
    q, k, v = (t.reshape(b, n, heads, -1).transpose(1, 2) for t in qkv.unbind(2))
    scores = (q @ k.transpose(-2, -1)) * a.scale
    hard = (token_keep.detach() > 0.5).to(x.dtype)
    pair = hard[:, :, None] * hard[:, None, :]
    allowed = (pair > 0) | torch.eye(n, dtype=torch.bool, device=x.device)
    scores = (scores * pair[:, None]).masked_fill(~allowed[:, None], float("-inf"))
    out = (a.attn_drop(scores.softmax(dim=-1)) @ v).transpose(1, 2).reshape(b, n, d)
    attn_x = a.proj_drop(a.proj(a.norm(out * width))) * token_keep[..., None]
    x = x + gates[:, 0, None, None] * block.drop_path1(block.ls1(attn_x))
    mlp_x = block.mlp(block.norm2(x) * width) * token_keep[..., None]
    return x + gates[:, 1, None, None] * block.drop_path2(block.ls2(mlp_x))
