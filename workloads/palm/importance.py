"""PALM's layer selection and learning rates (Sec. 4.1-4.2, Eq. 4-8) and LAW's FIM rates, as pure functions.

Official file: sarthaxxxxx/PALM classification/methods/ours.py (PALM) and methods/law.py (LAW, the same as
junia3/LayerwiseTTA classification/methods/law.py)."""
from __future__ import annotations

import torch


def layer_scores(grads: dict[str, torch.Tensor]) -> dict[str, float]:
    """Z = ‖∇θ L‖₁ for each layer's parameter tensor (Sec. 4.1; ours.py:52-54, one score per named tensor)."""
    if not grads:
        return {}
    # one device→host copy for all layers, not one sync per layer (≈100 layers in a WRN-28-10)
    norms = torch.stack([g.detach().abs().sum().double() for g in grads.values()]).tolist()
    return dict(zip(grads, norms))


def select_layers(scores: dict[str, float], eta: float) -> dict[str, bool]:
    """Tensors with Z ≤ η are selected (Sec. 4.1; ours.py:55)."""
    return {name: z <= eta for name, z in scores.items()}


def sensitivity(param: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Eq. 4: S = |θ · ∇θ L| (first-order Taylor estimate of the loss change when θ is removed; ours.py:60)."""
    return (param.detach() * grad).abs()


def ema_sensitivity(current: torch.Tensor, previous: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """Eq. 5: Ŝ_t = α S_t + (1 - α) Ŝ_{t-1} (Ŝ_0 = 0). The code (ours.py:61) writes BETA3·Ŝ + (1-BETA3)·S with
    BETA3 = 1 - α (cfgs/*/ours.yaml: 0.5 / 0.1 / 0.5 for α = 0.5 / 0.9 / 0.5): the same number."""
    return alpha * current + (1.0 - alpha) * (previous if previous is not None else torch.zeros_like(current))


def importance(current: torch.Tensor, smoothed: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 6-7 with the ε of Sec. 4.2: D = |S - Ŝ|, i = (D + ε) / (Ŝ + ε) (ours.py:62 and 69, ε = 1e-8)."""
    return ((current - smoothed).abs() + eps) / (smoothed + eps)


def learning_rates(imp: torch.Tensor, kappa: float) -> torch.Tensor:
    """Paper reading of Eq. 8: κ̂ = κ · i, one learning rate per parameter element."""
    return kappa * imp


def tensor_learning_rate(imp: torch.Tensor, kappa: float) -> torch.Tensor:
    """Official reading of Eq. 8 (ours.py:69-73): ONE rate per tensor, κ · mean(i) over its elements (a 0-dim
    tensor, so the caller can read all tensors' rates back in one host sync)."""
    return kappa * imp.mean()


def accumulate_fim(previous: torch.Tensor | float, grad: torch.Tensor) -> torch.Tensor:
    """LAW's domain-level FIM: F̂_t = F̂_{t-1} + g² (law.py:46), g the gradient held in ``.grad`` at that point."""
    return previous + grad.detach() ** 2


def law_learning_rates(fim: dict[str, torch.Tensor], base_lr: float, tau: float, eps: float = 1e-8) -> dict[str, float]:
    """LAW's layer-wise rates (law.py:44-57): v_n = sqrt(mean F̂_n), min-max scaled over the tensors, lr_n =
    base · ((v_n - min) / (max - min + ε))^τ."""
    values = dict(zip(fim, torch.stack([f.mean() for f in fim.values()]).double().sqrt().tolist()))
    lo, hi = min(values.values()), max(values.values())
    return {n: base_lr * ((v - lo) / (hi - lo + eps)) ** tau for n, v in values.items()}


def adam_step(param: torch.Tensor, grad: torch.Tensor, state: dict, lr: torch.Tensor | float,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
    """One Adam update with an element-wise learning rate (torch's Adam takes one LR per group only).

    Same moments, bias correction and L2 weight decay as ``torch.optim.Adam``; ``lr`` broadcasts against ``param``.
    An empty ``state`` is the code's fresh ``torch.optim.Adam`` built every batch (ours.py:77, law.py:59)."""
    b1, b2 = betas
    if weight_decay:
        grad = grad + weight_decay * param.detach()
    step = state.get("step", 0) + 1
    m = state.get("m", torch.zeros_like(param)).mul_(b1).add_(grad, alpha=1 - b1)
    v = state.get("v", torch.zeros_like(param)).mul_(b2).addcmul_(grad, grad, value=1 - b2)
    state.update(step=step, m=m, v=v)
    m_hat = m / (1 - b1**step)
    v_hat = v / (1 - b2**step)
    with torch.no_grad():
        param.sub_(lr * m_hat / (v_hat.sqrt() + eps))
