"""PALM's layer selection and per-parameter learning rates (Sec. 4.1-4.2, Eq. 4-8), as pure functions."""
from __future__ import annotations

import torch


def layer_scores(grads: dict[str, torch.Tensor]) -> dict[str, float]:
    """Z = ‖∇θ L‖₁ for each layer's parameter tensor (Sec. 4.1)."""
    if not grads:
        return {}
    # one device→host copy for all layers, not one sync per layer (≈100 layers in a WRN-28-10)
    norms = torch.stack([g.detach().abs().sum().double() for g in grads.values()]).tolist()
    return dict(zip(grads, norms))


def select_layers(scores: dict[str, float], eta: float) -> dict[str, bool]:
    """Layers with Z ≤ η are adapted; the others are frozen (LR 0)."""
    return {name: z <= eta for name, z in scores.items()}


def sensitivity(param: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Eq. 4: S = |θ · ∇θ L| (first-order Taylor estimate of the loss change when θ is removed)."""
    return (param.detach() * grad).abs()


def ema_sensitivity(current: torch.Tensor, previous: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """Eq. 5: Ŝ_t = α S_t + (1 - α) Ŝ_{t-1} (Ŝ_0 = 0)."""
    return alpha * current + (1.0 - alpha) * (previous if previous is not None else torch.zeros_like(current))


def importance(current: torch.Tensor, smoothed: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 6-7 with the ε of Sec. 4.2: D = |S - Ŝ|, i = (D + ε) / (Ŝ + ε)."""
    return ((current - smoothed).abs() + eps) / (smoothed + eps)


def learning_rates(imp: torch.Tensor, kappa: float) -> torch.Tensor:
    """Eq. 8: κ̂ = κ · i, one learning rate per parameter element."""
    return kappa * imp


def adam_step(param: torch.Tensor, grad: torch.Tensor, state: dict, lr: torch.Tensor | float,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
    """One Adam update with an element-wise learning rate (torch's Adam takes one LR per group only).

    Same moments and bias correction as ``torch.optim.Adam``; ``lr`` broadcasts against ``param``."""
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
