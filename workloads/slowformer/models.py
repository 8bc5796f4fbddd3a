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
from workloads.slowformer.attention import act_block, adavit_block, run_block
from workloads.slowformer.compute import ViTShape, adavit_block_flops, adavit_paper_gflops, per_image_flops


@dataclass
class Trace:
    """What one forward pass ran: tokens per layer (B, L), heads per layer and block flags when dropped,
    plus what the attack losses read (halting scores, CLS attentions, decisions)."""

    tokens: torch.Tensor
    tokens_out: torch.Tensor | None = None       # ATS: tokens leaving each block (sampled inside it), (B, L)
    heads: torch.Tensor | None = None
    blocks: torch.Tensor | None = None
    gates: torch.Tensor | None = None            # AdaViT: attention and MLP gate of each block, bool (B, L, 2)
    halting: torch.Tensor | None = None          # A-ViT: scores of the tokens that ran, last layer 1 (L, B, N)
    halting_raw: torch.Tensor | None = None      # A-ViT: raw scores of every token, halted ones included (L, B, N)
    rho: torch.Tensor | None = None              # A-ViT: official ponder N_k + r_k per token (B, N)
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
    """A-ViT as ``forward_features_act_token`` (UCDvision/SlowFormer avit/timm/models/act_vision_transformer.py:
    422-511, = NVlabs/A-ViT): per-token halting from the first embedding dimension (Eq. 4.1); halted tokens are
    zeroed and masked (``act_block``); every token, the CLS included, halts by the same rule, and the
    classifier reads the ACT mixture Σ_l h·out (remainder R at the halting layer) of the CLS token.

    ``Trace.halting`` holds the scores of the tokens that ran (forced 1 at the last layer), which the pure
    functions of ``halting`` read; ``halting_raw`` the raw scores of all tokens (the KL's profile); ``rho`` the
    official ponder per token (N_k + r_k) and ``tokens`` the tokens each layer ran."""

    def __init__(self, dense: nn.Module, eps: float = 0.01, gate_scale: float = 10.0, gate_center: float = 30.0):
        super().__init__(dense)
        self.eps, self.gate_scale, self.gate_center = eps, gate_scale, gate_center

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.embed(images)
        b, n, _ = out.shape
        ones = out.new_ones(b, n)
        cumul, remainder, running, rho = out.new_zeros(b, n), ones, ones, out.new_zeros(b, n)
        output = torch.zeros_like(out)
        raw, eff, masks = [], [], []
        depth = len(self.vit.blocks)
        for i, blk in enumerate(self.vit.blocks):
            x = out * running[..., None]  # out.data * mask_token (line 458)
            masks.append(running > 0)
            out = act_block(blk, x, running > 0)
            h_raw = halting.halting_score(out[..., 0], self.gate_scale, self.gate_center)
            raw.append(h_raw)
            h = ones if i == depth - 1 else h_raw
            eff.append(h * running)
            kept_out = out * running[..., None]
            cumul = cumul + h
            rho = rho + running
            reached = (cumul > 1 - self.eps).to(out.dtype) * running
            not_reached = (cumul < 1 - self.eps).to(out.dtype)
            output = output + kept_out * (remainder * reached)[..., None] + kept_out * (h * not_reached)[..., None]
            rho = rho + remainder * reached
            remainder = remainder - not_reached * h
            running = not_reached
        token_masks = torch.stack(masks)
        self.last = Trace(tokens=token_masks.sum(-1).T, halting=torch.stack(eff), halting_raw=torch.stack(raw),
                          rho=rho, token_masks=token_masks)
        return self.classify(output)


class ATSViT(EfficientViT):
    """ATS: in the chosen blocks, tokens are re-sampled by inverse transform sampling of the CLS-attention ×
    ‖V‖ importance (Eq. 4.4), at most ``max_tokens`` samples; parameter-free, so it runs on the dense weights.
    As in ATS the sampling happens inside the block, right after the attention matrix: the tokens not sampled
    already skip that block's attention output, projection and MLP (``Trace.tokens_out``)."""

    def __init__(self, dense: nn.Module, ats_layers: tuple[int, ...], max_tokens: int = 197, sampling: str = "official"):
        super().__init__(dense)
        if sampling not in ("official", "midpoint"):
            raise ValueError(f"ats_sampling={sampling!r}: use official (TokenSampler.py) or midpoint")
        self.sampling = sampling
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
                    n_req = min(self.max_tokens, n)
                    keep = (ats_fn.official_inverse_transform_sample(scores.detach(), n_req) if self.sampling == "official"
                            else ats_fn.inverse_transform_sample(scores.detach(), n_req - 1))
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
    """AdaViT as the SlowFormer release runs it (``AdaStepT2T_ViT`` with StepAdaBlocks, UCDvision/SlowFormer
    ada_vit/models/ada_t2t_vit.py:104-245, run.sh: --ada-head --ada-layer --ada-token-with-mlp), on a DeiT-style
    backbone: in every block, patch decisions are made afresh from that block's normalised input (norm1(x),
    not cumulative; CLS always kept), and from block ``keep_layers`` (1) on, head decisions and two layer gates
    (attention, MLP) from the block input's CLS token; none of the latter in the first block. Decisions:
    ``gumbel_sigmoid_decision`` (thresholds 0.6 patches, 0.5 heads and gates). ``gates: block`` is the
    dissertation's reading (Eq. 4.2-4.3: one keep/skip decision per block)."""

    def __init__(self, dense: nn.Module, tau: float = 5.0, keep_layers: int = 1, gates: str = "attn_mlp",
                 token_threshold: float = adavit_fn.TOKEN_THRESHOLD):
        super().__init__(dense)
        d, heads, depth = self.shape.dim, self.shape.num_heads, self.shape.depth
        if gates not in ("attn_mlp", "block"):
            raise ValueError(f"adavit_gates={gates!r}: use attn_mlp (official, two gates per block) or block (the text)")
        if not 0 <= keep_layers < depth:
            raise ValueError(f"keep_layers={keep_layers} must be in 0..{depth - 1}")
        self.keep_layers, self.gates, self.tau, self.token_threshold = keep_layers, gates, tau, token_threshold
        self.patch_dec = nn.ModuleList(nn.Linear(d, 1) for _ in range(depth))
        self.head_dec = nn.ModuleList(nn.Linear(d, heads) for _ in range(depth - keep_layers))
        self.block_dec = nn.ModuleList(nn.Linear(d, 2 if gates == "attn_mlp" else 1) for _ in range(depth - keep_layers))
        for lin in [*self.patch_dec, *self.head_dec, *self.block_dec]:
            # start from "keep everything" so fine-tuning begins at the dense model's accuracy
            nn.init.zeros_(lin.weight)
            nn.init.constant_(lin.bias, 2.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.embed(images)
        b, n, _ = x.shape
        heads = self.shape.num_heads
        st_p, st_h, st_g, pr_p, pr_h, pr_g, tokens, kept_heads, gates, masks = ([] for _ in range(10))
        for i, blk in enumerate(self.vit.blocks):
            lp = self.patch_dec[i](blk.norm1(x)[:, 1:]).squeeze(-1)
            mp = adavit_fn.gumbel_sigmoid_decision(lp, training=self.training, tau=self.tau, threshold=self.token_threshold)
            token_keep = torch.cat([torch.ones_like(mp[:, :1]), mp], dim=1)
            st_p.append(mp), pr_p.append(lp.sigmoid())
            if i >= self.keep_layers:
                j = i - self.keep_layers
                lh, lg = self.head_dec[j](x[:, 0]), self.block_dec[j](x[:, 0])
                mh = adavit_fn.gumbel_sigmoid_decision(lh, training=self.training, tau=self.tau,
                                                       threshold=adavit_fn.HEAD_THRESHOLD)
                mg = adavit_fn.gumbel_sigmoid_decision(lg, training=self.training, tau=self.tau,
                                                       threshold=adavit_fn.LAYER_THRESHOLD).expand(b, 2)
                st_h.append(mh), st_g.append(mg), pr_h.append(lh.sigmoid()), pr_g.append(lg.sigmoid())
            else:
                mh, mg = x.new_ones(b, heads), x.new_ones(b, 2)
            x = adavit_block(blk, x, token_keep, mh, mg)
            hard_tokens, hard_gates = token_keep.detach() > 0.5, (mg.detach() > 0.5)
            tokens.append(hard_tokens.sum(-1)), kept_heads.append((mh.detach() > 0.5).sum(-1)), gates.append(hard_gates)
            masks.append(hard_tokens & hard_gates.any(-1, keepdim=True))
        stack = lambda xs: torch.stack(xs, 1) if xs else x.new_zeros(b, 0, 1)
        self.last = Trace(tokens=torch.stack(tokens, 1), heads=torch.stack(kept_heads, 1), gates=torch.stack(gates, 1),
                          decisions=(stack(st_p), stack(st_h), stack(st_g)),
                          keep_probs=(stack(pr_p), stack(pr_h), stack(pr_g)), token_masks=torch.stack(masks))
        return self.classify(x)

    def flops(self, trace: Trace | None = None) -> torch.Tensor:
        t = trace or self.last
        s = self.shape
        embed_head = 2 * s.num_patches * s.patch_pixels * s.dim + 2 * s.dim * s.num_classes
        return adavit_block_flops(t.tokens, t.heads, t.gates, s).sum(dim=1) + embed_head

    def paper_gflops(self, trace: Trace | None = None) -> torch.Tensor:
        """Per-image GFLOPs by the AdaViT code's table convention (``adavit_paper_gflops``)."""
        t = trace or self.last
        return adavit_paper_gflops(t.tokens, t.heads, t.gates.long(), self.shape)
