"""A-ViT, ATS and AdaViT built around the blocks of a timm VisionTransformer (dissertation Sec. 4.1.3.2).

Each wrapper takes the dense model from ``workloads.common.models.build_model`` (``Normalized`` around a
timm ``VisionTransformer``), reuses its weights, and returns logits plus a ``Trace`` of what it computed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from workloads.slowformer import adavit as adavit_fn
from workloads.slowformer import ats as ats_fn
from workloads.slowformer import halting
from workloads.slowformer.attention import run_block
from workloads.slowformer.compute import ViTShape, per_image_flops


@dataclass
class Trace:
    """What one forward pass ran: tokens per layer (B, L), heads per layer and block flags when dropped,
    plus what the attack losses read (halting scores, CLS attentions, decisions)."""

    tokens: torch.Tensor
    tokens_out: torch.Tensor | None = None       # ATS: tokens leaving each block (sampled inside it), (B, L)
    heads: torch.Tensor | None = None
    blocks: torch.Tensor | None = None
    halting: torch.Tensor | None = None          # A-ViT: masked halting scores (L, B, N)
    cls_attn: list[torch.Tensor] = field(default_factory=list)  # ATS: attention of each ATS layer
    decisions: tuple[torch.Tensor, ...] | None = None           # AdaViT: patch, head, block keep (soft in training)
    keep_probs: tuple[torch.Tensor, ...] | None = None          # AdaViT: sigmoid(m) of patches, heads, blocks
    token_masks: torch.Tensor | None = None      # (L, B, N) tokens each layer ran (visualisation)


class EfficientViT(nn.Module):
    """Shared embedding / classifier plumbing; subclasses run the blocks."""

    def __init__(self, dense: nn.Module):
        super().__init__()
        if not hasattr(dense, "net") or not hasattr(dense.net, "blocks"):
            raise TypeError(f"expected a Normalized timm VisionTransformer from build_model, got {type(dense).__name__}; "
                            f"use a small_vit, vit_* or deit_* model name")
        self.normalize = dense.normalize
        self.vit = dense.net
        self.shape = ViTShape.of(self.vit)
        self.last: Trace | None = None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        v = self.vit
        return v.norm_pre(v.patch_drop(v._pos_embed(v.patch_embed(self.normalize(images)))))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        v = self.vit
        return v.head(v.head_drop(v.fc_norm(v.norm(x)[:, 0])))

    def flops(self, trace: Trace | None = None) -> torch.Tensor:
        t = trace or self.last
        return per_image_flops(t.tokens, self.shape, t.heads, t.blocks, t.tokens_out)


class AViT(EfficientViT):
    """A-ViT: per-token halting from the first embedding dimension, halted tokens dropped (Eq. 4.1);
    the CLS state fed to the classifier is the ACT mixture of the layers' outputs."""

    def __init__(self, dense: nn.Module, eps: float = 0.01, gate_scale: float = 10.0, gate_center: float = 30.0):
        super().__init__(dense)
        self.eps, self.gate_scale, self.gate_center = eps, gate_scale, gate_center

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.embed(images)
        b, n, _ = x.shape
        running = torch.ones(b, n, dtype=torch.bool, device=x.device)
        cumul = torch.zeros(b, n, device=x.device, dtype=x.dtype)
        hs, outs, masks = [], [], []
        depth = len(self.vit.blocks)
        for i, blk in enumerate(self.vit.blocks):
            masks.append(running)
            x, _, _ = run_block(blk, x, running)
            h = halting.halting_score(x[..., 0], self.gate_scale, self.gate_center)
            if i == depth - 1:
                h = torch.ones_like(h)
            else:
                # the classifier reads CLS, so it runs every layer (otherwise the ponder loss can halt it first)
                h = torch.cat([torch.zeros_like(h[:, :1]), h[:, 1:]], dim=1)
            h = h * running
            hs.append(h)
            outs.append(x)
            cumul = cumul + h
            running = running & (cumul < 1.0 - self.eps)
        h = torch.stack(hs)
        w = halting.act_weights(h, self.eps)
        final = (w.unsqueeze(-1) * torch.stack(outs)).sum(0)
        token_masks = torch.stack(masks)
        self.last = Trace(tokens=token_masks.sum(-1).T, halting=h, token_masks=token_masks)
        return self.classify(final)


class ATSViT(EfficientViT):
    """ATS: in the chosen blocks, tokens are re-sampled by inverse transform sampling of the CLS-attention ×
    ‖V‖ importance (Eq. 4.4), at most ``max_tokens`` samples; parameter-free, so it runs on the dense weights.
    As in ATS the sampling happens inside the block, right after the attention matrix: the tokens not sampled
    already skip that block's attention output, projection and MLP (``Trace.tokens_out``)."""

    def __init__(self, dense: nn.Module, ats_layers: tuple[int, ...], max_tokens: int = 197):
        super().__init__(dense)
        depth = len(self.vit.blocks)
        if not ats_layers or min(ats_layers) < 0 or max(ats_layers) >= depth:
            raise ValueError(f"ATS layers {ats_layers} must be non-empty block indices below the depth {depth}")
        self.ats_layers, self.max_tokens = tuple(ats_layers), max_tokens

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.embed(images)
        b, n, _ = x.shape
        running = torch.ones(b, n, dtype=torch.bool, device=x.device)
        masks, leaving, cls_attn = [], [], []
        for i, blk in enumerate(self.vit.blocks):
            masks.append(running)
            if i in self.ats_layers:
                sampled: list[torch.Tensor] = []

                def sample(attn: torch.Tensor, v: torch.Tensor, entering: torch.Tensor = running) -> torch.Tensor:
                    cls_attn.append(attn)
                    scores = ats_fn.importance_scores(attn, v, entering)
                    keep = ats_fn.inverse_transform_sample(scores.detach(), min(self.max_tokens, n) - 1)
                    sampled.append(entering & torch.cat([torch.ones_like(keep[:, :1]), keep], dim=1))  # CLS stays
                    return sampled[-1]
                x, _, _ = run_block(blk, x, running, select=sample)
                running = sampled[-1]
            else:
                x, _, _ = run_block(blk, x, running)
            leaving.append(running)
        token_masks = torch.stack(masks)
        self.last = Trace(tokens=token_masks.sum(-1).T, tokens_out=torch.stack(leaving).sum(-1).T, cls_attn=cls_attn,
                          token_masks=token_masks)
        return self.classify(x)


class AdaViT(EfficientViT):
    """AdaViT: before each block a decision network (three linear maps of the block input, Eq. 4.2) keeps or
    skips patches, heads and the block; Gumbel-Softmax in training, hard sigmoid threshold at inference."""

    def __init__(self, dense: nn.Module, tau: float = 5.0):
        super().__init__(dense)
        d, heads, depth = self.shape.dim, self.shape.num_heads, self.shape.depth
        self.patch_dec = nn.ModuleList(nn.Linear(d, 1) for _ in range(depth))
        self.head_dec = nn.ModuleList(nn.Linear(d, heads) for _ in range(depth))
        self.block_dec = nn.ModuleList(nn.Linear(d, 1) for _ in range(depth))
        for lin in [*self.patch_dec, *self.head_dec, *self.block_dec]:
            # start from "keep everything" so fine-tuning begins at the dense model's accuracy
            nn.init.zeros_(lin.weight)
            nn.init.constant_(lin.bias, 2.0)
        self.tau = tau

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.embed(images)
        b, n, _ = x.shape
        running = torch.ones(b, n, dtype=torch.bool, device=x.device)
        soft_p, soft_h, soft_b, tokens, heads, blocks, masks, probs = [], [], [], [], [], [], [], []
        for i, blk in enumerate(self.vit.blocks):
            cls = x[:, 0]
            lp, lh, lb = self.patch_dec[i](x[:, 1:]).squeeze(-1), self.head_dec[i](cls), self.block_dec[i](cls).squeeze(-1)
            probs.append((lp.sigmoid() * running[:, 1:], lh.sigmoid(), lb.sigmoid()))
            mp = adavit_fn.keep_decision(lp, training=self.training, tau=self.tau)
            mh = adavit_fn.keep_decision(lh, training=self.training, tau=self.tau)
            mb = adavit_fn.keep_decision(lb, training=self.training, tau=self.tau)
            # dropped patches stay dropped in later blocks (AdaViT's patch selection is cumulative at inference)
            keep = torch.cat([torch.ones_like(mp[:, :1]), mp], dim=1) * running
            run = keep > 0.5
            x_new, _, _ = run_block(blk, x, run, mh)
            gate = (mb.view(b, 1, 1) * keep.unsqueeze(-1))
            x = x + gate * (x_new - x)  # straight-through: hard masks forward, soft gradients to the decisions
            running = run
            soft_p.append(mp), soft_h.append(mh), soft_b.append(mb)
            masks.append(run & (mb.view(b, 1) > 0.5))
            tokens.append(run.sum(-1)), heads.append(mh.sum(-1)), blocks.append(mb)
        self.last = Trace(tokens=torch.stack(tokens, 1), heads=torch.stack(heads, 1).detach(),
                          blocks=torch.stack(blocks, 1).detach(),
                          decisions=(torch.stack(soft_p, 1), torch.stack(soft_h, 1), torch.stack(soft_b, 1)),
                          keep_probs=tuple(torch.stack(p, 1) for p in zip(*probs)),
                          token_masks=torch.stack(masks))
        return self.classify(x)
