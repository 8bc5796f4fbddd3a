"""The patch objectives of SlowFormer and its baselines (dissertation Sec. 4.1.3.2 and 4.1.5.1), minimised."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from workloads.slowformer import adavit, ats, halting
from workloads.slowformer.models import Trace


def avit_distribution_term(trace: Trace, prior: torch.Tensor, eps: float, prior_reading: str) -> torch.Tensor:
    """L_distr of one forward: official = KL of the raw-score profile against ``official_prior``, divided by L
    (engine_act.py:109-112); paper = KL of the masked profile against the normalised prior, summed."""
    if prior_reading == "official":
        return halting.official_distribution_loss(halting.official_halting_profile(trace.halting_raw), prior)
    return halting.distribution_loss(trace.halting, prior)


def avit_compute_loss(trace: Trace, prior: torch.Tensor, alpha_d: float, alpha_p: float, eps: float,
                      reading: str = "official", prior_reading: str = "official") -> torch.Tensor:
    """The A-ViT attack objective (minimised). ``reading: official`` follows UCDvision/SlowFormer
    avit/engine_act.py:100-120: −α_p·mean(ρ) + α_d·L_distr, the KL term *minimised* and added only when positive;
    ``reading: paper`` is the dissertation's text (Sec. 4.1.3.2): −(α_d L_distr + α_p L_ponder), the KL maximised.
    mean(ρ) = L_ponder (Eq. 4.1) over every token, the CLS included."""
    ponder = trace.rho.mean()
    distr = alpha_d * avit_distribution_term(trace, prior, eps, prior_reading)
    if reading == "official":
        return -alpha_p * ponder + halting.positive_part_gate(distr)
    return -(distr + alpha_p * ponder)


def adavit_compute_loss(trace: Trace) -> torch.Tensor:
    """−L_usage with γ = 0 (Eq. 4.3 negated) on the keep probabilities: pushes every patch, head and block on."""
    p, h, b = trace.keep_probs
    return -adavit.usage_loss(p, h, b, 0.0, 0.0, 0.0)


def ats_compute_loss(trace: Trace, weights: Sequence[float]) -> torch.Tensor:
    """Σ_l w_l Σ_heads ‖A_{1,i} − 1/N‖² over the ATS layers (Eq. 4.5, per-layer weights of App. C.4)."""
    if len(weights) != len(trace.cls_attn):
        raise ValueError(f"{len(weights)} ATS loss weights given for {len(trace.cls_attn)} ATS layers; give one per layer")
    return sum(w * ats.cls_uniform_loss(a) for w, a in zip(weights, trace.cls_attn))


def task_term(logits: torch.Tensor, labels: torch.Tensor, accuracy: str) -> torch.Tensor:
    """Accuracy control (Table 4.3): +L_task preserves accuracy, −L_task destroys it, agnostic adds nothing."""
    if accuracy == "agnostic":
        return logits.new_zeros(())
    ce = F.cross_entropy(logits, labels)
    return ce if accuracy == "preserve" else -ce


def accuracy_patch_loss(logits: torch.Tensor, labels: torch.Tensor, attack: str, target: int) -> torch.Tensor:
    """TAP: cross-entropy to one fixed class; NTAP: negative cross-entropy to the true label."""
    if attack == "tap":
        return F.cross_entropy(logits, torch.full_like(labels, target))
    return -F.cross_entropy(logits, labels)
