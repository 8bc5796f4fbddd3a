"""A-ViT adaptive halting (Yin et al., 2022), as attacked in dissertation Section 4.1.3.2, Eq. 4.1.

Pure functions on per-layer halting scores ``h`` of shape (L, B, K): layer, image, token.
"""
from __future__ import annotations

import math

import torch


def halting_score(first_dim: torch.Tensor, gate_scale: float = 10.0, gate_center: float = 30.0) -> torch.Tensor:
    """h_k^l = sigmoid(γ·t_{k,1}^l − β): A-ViT reads the halting score off the first embedding dimension
    (no new parameters); the official model uses γ=10, β=30 so that h starts near 0 for a dense checkpoint."""
    return torch.sigmoid(gate_scale * first_dim - gate_center)


def halting_layers(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """N_k (1-based): the first layer at which the cumulative halting score reaches 1 − ε (Sec. 4.1.3.2).

    The last layer halts every token that is still running (A-ViT forces h^L = 1), so N_k ≤ L.
    Returns int64 of shape (B, K)."""
    crossed = torch.cumsum(h, dim=0) >= 1.0 - eps
    crossed[-1] = True
    # argmax returns the first maximal index, i.e. the first layer at which the threshold is crossed
    return crossed.to(torch.int8).argmax(dim=0).long() + 1


def active_masks(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Mask (L, B, K) of tokens that each layer computes: token k runs in layers 1..N_k and is dropped after."""
    n_k = halting_layers(h, eps)
    layer = torch.arange(1, h.shape[0] + 1, device=h.device).view(-1, 1, 1)
    return layer <= n_k.unsqueeze(0)


def remainders(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """r_k = 1 − Σ_{l<N_k} h_k^l (Eq. 4.1): the halting mass left at the halting layer, differentiable in h."""
    run = active_masks(h, eps)
    before = run & ~_halting_onehot(h, eps)
    return 1.0 - (h * before).sum(dim=0)


def _halting_onehot(h: torch.Tensor, eps: float) -> torch.Tensor:
    n_k = halting_layers(h, eps)
    layer = torch.arange(1, h.shape[0] + 1, device=h.device).view(-1, 1, 1)
    return layer == n_k.unsqueeze(0)


def ponder_loss(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """L_ponder = (1/K) Σ_k (N_k + r_k), averaged over the batch (Eq. 4.1). Only r_k carries a gradient."""
    n_k = halting_layers(h, eps).to(h.dtype)
    return (n_k + remainders(h, eps)).mean()


def act_weights(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """ACT weights (L, B, K) for the token's output: h_k^l before its halting layer and r_k at it, so each
    token's final state is a convex combination of the outputs of the layers it ran through (A-ViT)."""
    before = active_masks(h, eps) & ~_halting_onehot(h, eps)
    return h * before + remainders(h, eps).unsqueeze(0) * _halting_onehot(h, eps)


def gaussian_prior(num_layers: int, target_depth: float, std: float = 1.0) -> torch.Tensor:
    """Paper reading (``avit_prior: paper``) of A-ViT's prior: a Gaussian over 1-based layers centred on
    ``target_depth``, normalised to sum 1 (the dissertation only says "a Gaussian prior", Sec. 4.1.3.2)."""
    layers = torch.arange(1, num_layers + 1, dtype=torch.float64)
    p = torch.exp(-0.5 * ((layers - target_depth) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    return (p / p.sum()).float()


def distribution_loss(h: torch.Tensor, prior: torch.Tensor, clamp: float = 0.01) -> torch.Tensor:
    """Paper reading of L_distr: KL(prior ‖ q), q the batch-and-token averaged *masked* halting score per layer
    (halted tokens count 0, last layer forced to 1), normalised over layers and clamped, summed over layers
    (no division by L). The official computation is ``official_distribution_loss``."""
    q = h.mean(dim=(1, 2))
    q = (q / q.sum().clamp_min(1e-12)).clamp(clamp, 1 - clamp)
    prior = prior.to(q)
    return (prior * (prior.clamp_min(1e-12).log() - q.log())).sum()


def tokens_per_layer(h: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Number of tokens each layer computes, per image: (B, L)."""
    return active_masks(h, eps).sum(dim=2).transpose(0, 1)


def official_prior(num_layers: int, target_depth: int | None = None, std: float = 1.0, buffer: float = 0.02,
                   ) -> torch.Tensor:
    """A-ViT's distribution target (prior of L_distr, dissertation Sec. 4.1.3.2), as ``get_distribution_target``
    in UCDvision/SlowFormer avit/utils.py:286-302 (= NVlabs/A-ViT utils.py): the normal pdf at the 0-based
    layers 0..L−1, centred on 0-based ``target_depth`` (8 of 12; default round(2L/3) at other depths), std 1,
    then scaled so that its first ``target_depth`` entries sum to 1 − buffer. It does not sum to 1."""
    t = round(2 * num_layers / 3) if target_depth is None else int(target_depth)
    if not 0 < t <= num_layers:
        raise ValueError(f"prior centre {t} (0-based) must be in 1..{num_layers} for a {num_layers}-layer A-ViT: the "
                         f"scaling divides by the prior mass of layers 0..{t - 1}")
    layers = torch.arange(num_layers, dtype=torch.float64)
    pdf = torch.exp(-0.5 * ((layers - t) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    return (pdf * (1.0 - buffer) / pdf[:t].sum()).float()


def official_halting_profile(h_raw: torch.Tensor) -> torch.Tensor:
    """The per-layer halting profile A-ViT's KL reads (dissertation Sec. 4.1.3.2), as
    ``act_vision_transformer.py:465`` of UCDvision/SlowFormer avit/timm/models (and NVlabs/A-ViT):
    ``torch.mean(h_lst[1][1:])`` per layer, where h is the raw sigmoid score of every token computed on the
    block output *before* masking, halted tokens and CLS included, and the last layer's raw score (the forced
    h = 1 comes after). ``[1:]`` slices the batch dimension, so image 0 is left out; with one image we use it.
    ``h_raw`` (L, B, N) → (L,)."""
    h = h_raw[:, 1:] if h_raw.shape[1] > 1 else h_raw
    return h.mean(dim=(1, 2))


def official_distribution_loss(profile: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """L_distr as ``engine_act.py:109-112`` (UCDvision/SlowFormer avit/, = NVlabs/A-ViT engine_act.py): the
    profile normalised to sum 1, clamped to [0.01, 0.99], then ``nn.KLDivLoss(reduction='batchmean')(log q, p)``
    = Σ_l p_l (log p_l − log q_l) / L, because 'batchmean' divides by the size of the first (layer) dimension."""
    q = (profile / profile.sum()).clamp(0.01, 0.99)
    p = prior.to(q)
    return (p * (p.log() - q.log())).sum() / p.shape[0]


def positive_part_gate(term: torch.Tensor) -> torch.Tensor:
    """``if distr_prior_loss.item() > 0.: loss += distr_prior_loss`` (engine_act.py:119-120): the weighted KL
    enters the loss only when positive (it can be negative: the prior does not sum to 1, q is clamped)."""
    return term if float(term.detach()) > 0 else term * 0.0
