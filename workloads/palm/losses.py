"""PALM's losses (Sec. 4.1 and 4.3) and the entropies used by TENT, CoTTA, LAW and surgical fine-tuning.

Two readings where the paper's text and the authors' code (sarthaxxxxx/PALM classification/methods/ours.py)
compute different numbers: ``official`` (the code, the default) and ``paper`` (the text).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ENTROPY_MARGIN = 0.4   # ours.py:129 entropy_minmization(outputs, e_margin=0.4): nats, not a fraction of log C


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample Shannon entropy H(l) = -Σ_c p(l_c) log p(l_c) of softmax(logits) (TENT's softmax_entropy)."""
    logp = logits.log_softmax(dim=1)
    return -(logp.exp() * logp).sum(dim=1)


def kl_to_uniform(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Paper reading of Eq. 1-2: KL(softmax(h(x)/T) ‖ u) as the class-averaged cross-entropy, batch mean.

    Computed as PyTorch's ``KLDivLoss(log p, u)`` = Σ_c u_c (log u_c - log p_c) = -(1/C) Σ_c log p_c - log C,
    whose gradient is exactly Eq. 2: the class-average of the cross-entropy gradients ∂CE(ĥ(x), c)/∂θ."""
    logp = (logits / temperature).log_softmax(dim=1)
    return (-logp.mean(dim=1) - math.log(logits.shape[1])).mean()


def uniform_target_cross_entropy(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Official reading of Eq. 1: mean_b Σ_c -log softmax(h(x)/T)_c, a target of ones (ours.py:47-49).

    Its gradient is C times that of ``kl_to_uniform``; the tuned η (1 / 0.5 / 0.3) thresholds this scale."""
    return -(logits / temperature).log_softmax(dim=1).sum(dim=1).mean()


def thresholded_entropy(logits: torch.Tensor, h0_fraction: float = 0.4) -> torch.Tensor:
    """Paper reading of Eq. 9: entropy of the samples with H(l) ≤ H0, H0 = 0.4·log C (EcoTTA), summed and divided
    by the batch size."""
    h = entropy(logits)
    h0 = h0_fraction * math.log(logits.shape[1])
    return (h * (h <= h0).to(h.dtype)).sum() / logits.shape[0]


def filtered_entropy_mean(logits: torch.Tensor, margin: float) -> torch.Tensor:
    """Official Eq. 9 (ours.py:129-136, surgical.py:73-80): mean entropy of the samples with H < margin (strict),
    averaged over the kept samples only.

    When no sample is kept the code takes the mean of an empty tensor: a NaN loss value whose gradient is zero, so
    only the consistency term moves the weights. Returning 0 here gives the same update without the NaN."""
    h = entropy(logits)
    kept = h[h < margin]
    return kept.mean() if kept.numel() else h.sum() * 0.0


def consistency(logits: torch.Tensor, logits_aug: torch.Tensor) -> torch.Tensor:
    """Eq. 10: -Σ_c p(l_c) log p(l̂_c), between a batch and its augmented view, averaged over the batch
    (ours.py:124-127)."""
    return -(logits.softmax(dim=1) * logits_aug.log_softmax(dim=1)).sum(dim=1).mean()


def palm_objective(logits: torch.Tensor, logits_aug: torch.Tensor, lam: float, reading: str = "official") -> torch.Tensor:
    """Eq. 11: L_total = L_entropy + λ' L_const.

    official (ours.py:79): entropy of samples with H < 0.4 nats averaged over them, λ' = λ·C;
    paper: entropy of samples with H ≤ 0.4·log C divided by the batch size, λ' = λ."""
    if reading == "official":
        return filtered_entropy_mean(logits, ENTROPY_MARGIN) + lam * logits.shape[1] * consistency(logits, logits_aug)
    return thresholded_entropy(logits) + lam * consistency(logits, logits_aug)


def cotta_cross_entropy(student: torch.Tensor, teacher: torch.Tensor, symmetric: bool) -> torch.Tensor:
    """CoTTA's student loss, batch mean (PALM repo methods/cotta.py:117-124; qinenergy/cotta cifar/cotta.py:130-132):
    CIFAR: -Σ p_teacher log p_student; ImageNet (``symmetric``): 0.5 of that plus 0.5 of -Σ p_student log p_teacher."""
    ce = -(teacher.softmax(1) * student.log_softmax(1)).sum(1)
    if symmetric:
        ce = 0.5 * ce - 0.5 * (student.softmax(1) * teacher.log_softmax(1)).sum(1)
    return ce.mean()


def pseudo_label_nll(logits: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of the arg-max pseudo-labels (LAW's FIM, methods/law.py:40-41; PALM's Table 7)."""
    return F.nll_loss(logits.log_softmax(dim=1), logits.argmax(dim=1))
