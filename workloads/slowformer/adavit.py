"""AdaViT decisions (Meng et al., 2022): dissertation Eq. 4.2 (decision logits) and Eq. 4.3 (usage loss)."""
from __future__ import annotations

import torch


# Official thresholds (UCDvision/SlowFormer ada_vit/models/ada_transformer_block.py:246 and 107/141)
TOKEN_THRESHOLD = 0.6
HEAD_THRESHOLD = 0.5
LAYER_THRESHOLD = 0.5


def gumbel_sigmoid_decision(logits: torch.Tensor, *, training: bool, tau: float = 5.0, threshold: float = 0.5,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep/drop decision from decision logits m (Eq. 4.2) as ``_gumbel_sigmoid(hard=True)``
    (ada_transformer_block.py:7-36): training y = σ((m + g₁ − g₂)/τ), g Gumbel(0, 1); inference y = σ(m); the
    decision is 1[y > threshold], returned straight-through (hard forward, gradient of y). The threshold is
    applied in training too, so P(keep) = σ(m − τ·logit(threshold)): σ(m) for heads and layers (0.5), not for
    patches (0.6). Returns a tensor shaped as ``logits`` whose values are exactly 0 or 1 up to float rounding."""
    if training:
        u1 = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).to(logits.device)
        u2 = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).to(logits.device)
        # −log(Exp(1)) is Gumbel(0, 1); Exp(1) = −log U
        g1, g2 = -torch.log(-torch.log(u1.clamp_min(1e-20))), -torch.log(-torch.log(u2.clamp_min(1e-20)))
        soft = torch.sigmoid((logits + g1 - g2) / tau)
    else:
        soft = torch.sigmoid(logits)
    hard = (soft > threshold).to(logits.dtype)
    return hard - soft.detach() + soft


def usage_loss(patch_keep: torch.Tensor, head_keep: torch.Tensor, block_keep: torch.Tensor,
               gamma_p: float, gamma_h: float, gamma_b: float) -> torch.Tensor:
    """L_usage (Eq. 4.3): squared gap between the kept fraction of patches, heads and blocks of the whole
    transformer and their budgets γ; per image, then averaged. Inputs (B, ...) with any trailing shape."""
    def frac(m: torch.Tensor) -> torch.Tensor:
        return m.flatten(1).float().mean(dim=1)

    loss = (frac(patch_keep) - gamma_p) ** 2 + (frac(head_keep) - gamma_h) ** 2 + (frac(block_keep) - gamma_b) ** 2
    return loss.mean()
