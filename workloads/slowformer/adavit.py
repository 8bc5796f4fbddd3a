"""AdaViT decisions (Meng et al., 2022): dissertation Eq. 4.2 (decision logits) and Eq. 4.3 (usage loss)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def keep_decision(logits: torch.Tensor, *, training: bool, tau: float = 5.0) -> torch.Tensor:
    """Keep/discard mask from decision logits m (Eq. 4.2). Training: straight-through Gumbel-Softmax over
    {keep, drop} with logits (m, −m) (≡ a Gumbel-sigmoid of 2m), so gradients reach m. Inference: hard
    threshold sigmoid(m) > 0.5."""
    if not training:
        return (logits > 0).to(logits.dtype)
    two = torch.stack([logits, -logits], dim=-1)
    return F.gumbel_softmax(two, tau=tau, hard=True, dim=-1)[..., 0]


def usage_loss(patch_keep: torch.Tensor, head_keep: torch.Tensor, block_keep: torch.Tensor,
               gamma_p: float, gamma_h: float, gamma_b: float) -> torch.Tensor:
    """L_usage (Eq. 4.3): squared gap between the kept fraction of patches, heads and blocks of the whole
    transformer and their budgets γ; per image, then averaged. Inputs (B, ...) with any trailing shape."""
    def frac(m: torch.Tensor) -> torch.Tensor:
        return m.flatten(1).float().mean(dim=1)

    loss = (frac(patch_keep) - gamma_p) ** 2 + (frac(head_keep) - gamma_h) ** 2 + (frac(block_keep) - gamma_b) ** 2
    return loss.mean()
