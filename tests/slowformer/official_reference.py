"""Independent float64 re-computations of the authors' code (UCDvision/SlowFormer, NVlabs/A-ViT, ATS), written
from the official semantics on raw state-dict tensors, for the fidelity tests. Nothing here imports the workload."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# the official key names of a timm / DeiT / A-ViT VisionTransformer (facebookresearch/deit, NVlabs/A-ViT)
VIT_BLOCK_KEYS = ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                  "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias")
VIT_TOP_KEYS = ("cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias",
                "head.weight", "head.bias")


def random_vit_state(dim: int, depth: int, heads: int, patch: int, image: int, classes: int, seed: int,
                     adavit: bool = False, keep_layers: int = 1, gate_outputs: int = 2) -> dict[str, torch.Tensor]:
    """A state dict with the official key names (ViT; with ``adavit`` the ada_step_deit_* names of
    UCDvision/SlowFormer ada_vit/models/ada_transformer_block.py), random float64 values."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, scale=0.3: (torch.randn(*s, generator=g, dtype=torch.float64) * scale)
    n = (image // patch) ** 2
    sd = {"cls_token": r(1, 1, dim), "pos_embed": r(1, n + 1, dim), "patch_embed.proj.weight": r(dim, 3, patch, patch, scale=0.1),
          "patch_embed.proj.bias": r(dim), "norm.weight": 1 + r(dim, scale=0.1), "norm.bias": r(dim, scale=0.1),
          "head.weight": r(classes, dim), "head.bias": r(classes)}
    for i in range(depth):
        p = f"blocks.{i}."
        sd[p + "norm1.weight"], sd[p + "norm1.bias"] = 1 + r(dim, scale=0.1), r(dim, scale=0.1)
        sd[p + "norm2.weight"], sd[p + "norm2.bias"] = 1 + r(dim, scale=0.1), r(dim, scale=0.1)
        sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"] = r(dim, dim), r(dim)
        sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"] = r(4 * dim, dim), r(4 * dim)
        sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"] = r(dim, 4 * dim), r(dim)
        if adavit:
            for name in ("query", "key", "value"):
                sd[p + f"attn.{name}.weight"], sd[p + f"attn.{name}.bias"] = r(dim, dim), r(dim)
            sd[p + "attn.token_select.mlp_head.weight"] = r(1, dim)
            sd[p + "attn.token_select.mlp_head.bias"] = torch.tensor([0.6], dtype=torch.float64)
            if i >= keep_layers:
                sd[p + "head_select.mlp_head.weight"], sd[p + "head_select.mlp_head.bias"] = r(heads, dim), r(heads) + 0.3
                sd[p + "layer_select.mlp_head.weight"] = r(gate_outputs, dim)
                sd[p + "layer_select.mlp_head.bias"] = r(gate_outputs) + 0.5
        else:
            sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"] = r(3 * dim, dim), r(3 * dim)
    return sd


def _ln(x, sd, name):
    return F.layer_norm(x, x.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], eps=1e-6)


def _lin(x, sd, name):
    return x @ sd[name + ".weight"].T + sd[name + ".bias"]


def embed(sd, images, mean, std, patch):
    # the model keeps mean/std as float32 buffers: use the same rounded values
    m, s = (torch.tensor(v, dtype=torch.float32).to(images.dtype).view(1, -1, 1, 1) for v in (mean, std))
    x = (images - m) / s
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=patch).flatten(2).transpose(1, 2)
    return torch.cat([sd["cls_token"].expand(len(x), -1, -1), t], dim=1) + sd["pos_embed"]


def avit_forward(sd, images, *, depth, heads, patch, mean, std, gate_scale, gate_center, eps=0.01):
    """forward_features_act_token + Block_ACT.forward_act + Masked_Attention (act_vision_transformer.py:169-511)."""
    out = embed(sd, images, mean, std, patch)
    bs, T, C = out.shape
    c, R, mask = torch.zeros(bs, T, dtype=out.dtype), torch.ones(bs, T, dtype=out.dtype), torch.ones(bs, T, dtype=out.dtype)
    rho, counter, output, hsl = torch.zeros(bs, T, dtype=out.dtype), torch.ones(bs, T, dtype=out.dtype), None, []
    for i in range(depth):
        p = f"blocks.{i}."
        out = out * mask.view(bs, T, 1)
        m = (1.0 - mask).view(bs, T, 1)
        y = _ln(out * (1 - m), sd, p + "norm1") * (1 - m)
        qkv = _lin(y, sd, p + "attn.qkv").reshape(bs, T, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)) * (C // heads) ** -0.5
        a = a + (1.0 - mask).view(bs, 1, 1, T) * -1000.0
        x = out + _lin((a.softmax(-1) @ v).transpose(1, 2).reshape(bs, T, C), sd, p + "attn.proj")
        hmid = F.gelu(_lin(_ln(x * (1 - m), sd, p + "norm2") * (1 - m), sd, p + "mlp.fc1"))
        x = x + _lin(hmid, sd, p + "mlp.fc2")
        h_token = torch.sigmoid(x[:, :, 0] * gate_scale - gate_center)
        hsl.append(torch.mean(h_token[1:]))
        out = x.clone()
        block_output = x * mask.view(bs, T, 1)
        if i == depth - 1:
            h_token = torch.ones(bs, T, dtype=x.dtype)
        c = c + h_token
        rho = rho + mask
        reached = (c > 1 - eps).to(x.dtype) * mask
        delta1 = block_output * R.view(bs, T, 1) * reached.view(bs, T, 1)
        rho = rho + R * reached
        not_reached = (c < 1 - eps).to(x.dtype)
        R = R - not_reached * h_token
        delta2 = block_output * h_token.view(bs, T, 1) * not_reached.view(bs, T, 1)
        counter = counter + not_reached
        mask = (c < 1 - eps).to(x.dtype)
        output = delta1 + delta2 if output is None else output + delta1 + delta2
    logits = _lin(_ln(output, sd, "norm")[:, 0], sd, "head")
    return logits, counter, rho, torch.stack(hsl)


def distribution_target(length=12, target_depth=8, buffer=0.02):
    """get_distribution_target(standardized=True) (avit/utils.py:286-302) with math's normal pdf."""
    data = [math.exp(-0.5 * (l - target_depth) ** 2) / math.sqrt(2 * math.pi) for l in range(length)]
    scale = (1.0 - buffer) / sum(data[:target_depth])
    return torch.tensor([v * scale for v in data], dtype=torch.float64)


def avit_attack_loss(rho, hsl, target, alpha_p, alpha_d):
    """engine_act.py:100-120 with torch's own KLDivLoss."""
    loss = -torch.mean(rho) * alpha_p
    distr = hsl / torch.sum(hsl)
    distr = torch.clamp(distr, 0.01, 0.99)
    kl = alpha_d * torch.nn.KLDivLoss(reduction="batchmean")(distr.log(), target)
    if kl.item() > 0.0:
        loss = loss + kl
    return loss


def ats_sample(scores: torch.Tensor, n: int) -> list[set[int]]:
    """TokenSampling.inverse_transform_sampling (TokenSampler.py:131-212), one image at a time, with Python
    loops: returns the kept original token indices (0-based among the non-CLS tokens) per image."""
    out = []
    for s in scores.tolist():
        k = len(s)
        order = sorted(range(k), key=lambda j: s[j])  # ascending (stable)
        cdf, acc = [], 0.0
        for j in order:
            acc += s[j]
            cdf.append(acc)
        lo, hi = min(cdf), max(cdf)
        ncdf = [(v - lo) / (hi - lo) for v in cdf]
        start = min(v for v in ncdf if v != 0)
        ys = [start + (i * (1 - start)) / (n - 2) for i in range(n - 1)]
        # candidates: the last n−1 sorted entries when n−1 < k (negative F.pad crops the smallest)
        first = max(0, k - (n - 1))
        picks = []
        for y in ys:
            best = min(range(first, k), key=lambda j: (abs(y - ncdf[j]), j))
            picks.append(best)
        picks.sort()
        kept = set()
        for idx, v in enumerate(picks):
            nxt = picks[idx + 1] if idx + 1 < len(picks) else 1  # the pad value 1 of get_unique_indices
            if nxt != v:
                kept.add(order[v])
        out.append(kept)
    return out


def adavit_forward(sd, images, *, depth, heads, patch, mean, std, keep_layers=1, token_threshold=0.6):
    """AdaStepT2T_ViT(use_t2t=False) eval forward with --ada-head --ada-layer --ada-token-with-mlp
    (ada_t2t_vit.py:178-245, StepAdaBlock.forward, AdaAttention.forward, DynaLinear, SimpleTokenSelect)."""
    x = embed(sd, images, mean, std, patch)
    B, N, C = x.shape
    hd = C // heads
    counts = []
    for i in range(depth):
        p = f"blocks.{i}."
        policy_token = x[:, 0]
        if i >= keep_layers:
            head_sel = (torch.sigmoid(_lin(policy_token, sd, p + "head_select.mlp_head")) > 0.5).to(x.dtype)
            layer_sel = (torch.sigmoid(_lin(policy_token, sd, p + "layer_select.mlp_head")) > 0.5).to(x.dtype)
            if layer_sel.shape[1] == 1:
                layer_sel = layer_sel.expand(B, 2)
            width = head_sel.repeat_interleave(hd, dim=1)  # (B, C)
        else:
            head_sel, layer_sel, width = torch.ones(B, heads, dtype=x.dtype), None, None
        y = _ln(x, sd, p + "norm1")

        def dyna_out(inp, name):  # DynaLinear with width_select (b, c, 1): output rows and bias masked
            w, b = sd[p + f"attn.{name}.weight"], sd[p + f"attn.{name}.bias"]
            if width is None:
                return inp @ w.T + b
            return torch.einsum("bnc,boc->bno", inp, w[None] * width[:, :, None]) + b[None, None] * width[:, None]

        q = dyna_out(y, "query").reshape(B, N, heads, hd).permute(0, 2, 1, 3)
        k = dyna_out(y, "key").reshape(B, N, heads, hd).permute(0, 2, 1, 3)
        v = dyna_out(y, "value").reshape(B, N, heads, hd).permute(0, 2, 1, 3)
        attn_pre = (q @ k.transpose(-2, -1)) * hd ** -0.5
        t_logit = _lin(y[:, 1:], sd, p + "attn.token_select.mlp_head")
        tsel = torch.cat([torch.ones(B, 1, 1, dtype=x.dtype), (torch.sigmoid(t_logit) > token_threshold).to(x.dtype)], 1)
        tsel = tsel.transpose(1, 2)  # (B, 1, N)
        policy = torch.bmm(tsel.transpose(-1, -2), tsel).unsqueeze(1)
        eye = torch.eye(N, dtype=x.dtype)
        attn = attn_pre * policy + torch.zeros_like(attn_pre).masked_fill_((1 - policy - eye) > 0, float("-inf"))
        attn = attn.softmax(-1)
        a = (attn @ v).transpose(1, 2).reshape(B, N, C)
        if width is not None:  # proj with width_select (b, 1, c): input columns masked, bias kept
            a = torch.einsum("bnc,boc->bno", a, sd[p + "attn.proj.weight"][None] * width[:, None, :]) + sd[p + "attn.proj.bias"]
        else:
            a = _lin(a, sd, p + "attn.proj")
        token_select = tsel.squeeze(1)
        a = a * token_select.unsqueeze(-1)
        l0 = 1.0 if layer_sel is None else layer_sel[:, 0][:, None, None]
        l1 = 1.0 if layer_sel is None else layer_sel[:, 1][:, None, None]
        x = x + l0 * a
        z = _ln(x, sd, p + "norm2")
        if width is not None:  # fc1 with width_select (b, 1, c): input columns masked
            hmid = torch.einsum("bnc,boc->bno", z, sd[p + "mlp.fc1.weight"][None] * width[:, None, :]) + sd[p + "mlp.fc1.bias"]
        else:
            hmid = _lin(z, sd, p + "mlp.fc1")
        mlp = _lin(F.gelu(hmid), sd, p + "mlp.fc2") * token_select.unsqueeze(-1)
        x = x + l1 * mlp
        counts.append((token_select.sum(-1), head_sel.sum(-1),
                       torch.ones(B, 2, dtype=x.dtype) if layer_sel is None else layer_sel))
    logits = _lin(_ln(x, sd, "norm")[:, 0], sd, "head")
    return logits, counts
