"""PALM's losses (Sec. 4.1 and 4.3) and the entropy used by TENT/CoTTA/LAW."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample Shannon entropy H(l) = -Σ_c p(l_c) log p(l_c) of softmax(logits)."""
    logp = logits.log_softmax(dim=1)
    return -(logp.exp() * logp).sum(dim=1)


def kl_to_uniform(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. 1-2: the KL divergence between the smoothed softmax p = softmax(h(x)/T) and the uniform u, batch mean.

    Computed as PyTorch's ``KLDivLoss(log p, u)`` = Σ_c u_c (log u_c - log p_c) = -(1/C) Σ_c log p_c - log C,
    whose gradient is exactly Eq. 2: the class-average of the cross-entropy gradients ∂CE(ĥ(x), c)/∂θ."""
    logp = (logits / temperature).log_softmax(dim=1)
    return (-logp.mean(dim=1) - math.log(logits.shape[1])).mean()


def thresholded_entropy(logits: torch.Tensor, h0_fraction: float = 0.4) -> torch.Tensor:
    """Eq. 9: entropy of the samples with H(l) ≤ H0 (H0 = 0.4·log C, following EcoTTA), averaged over the batch."""
    h = entropy(logits)
    h0 = h0_fraction * math.log(logits.shape[1])
    return (h * (h <= h0).to(h.dtype)).sum() / logits.shape[0]


def consistency(logits: torch.Tensor, logits_aug: torch.Tensor) -> torch.Tensor:
    """Eq. 10: -Σ_c p(l_c) log p(l̂_c), between a batch and its augmented view, averaged over the batch."""
    return -(logits.softmax(dim=1) * logits_aug.log_softmax(dim=1)).sum(dim=1).mean()


def palm_objective(logits: torch.Tensor, logits_aug: torch.Tensor, lam: float, h0_fraction: float = 0.4) -> torch.Tensor:
    """Eq. 11: L_total = L_entropy + λ L_const."""
    return thresholded_entropy(logits, h0_fraction) + lam * consistency(logits, logits_aug)


def pseudo_label_nll(logits: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of the arg-max pseudo-labels (LAW's FIM and PALM's Table 7 variant)."""
    return F.nll_loss(logits.log_softmax(dim=1), logits.argmax(dim=1))
