"""Test-time specialization of the early exits (TTS paper Sec. 3.3 and 4.2).

For every incoming image the adaptive model answers from the first confident exit ``k``. Its prediction
is the target of a cross-entropy loss on the earlier exits ``0..k-1`` (which were evaluated anyway and
were not confident); only those heads take an SGD step. The backbone and the last exit never change,
so the model keeps the baseline's accuracy on every class at its last exit.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from workloads.tts.early_exit import ExitTrace, adaptive_forward


def pseudo_labels(selected_logits: torch.Tensor) -> torch.Tensor:
    """Targets from the selected exit: its predicted class (no label is needed, Sec. 3.3)."""
    return selected_logits.detach().argmax(dim=-1)


def specialization_loss(trace: ExitTrace, targets: torch.Tensor) -> torch.Tensor | None:
    """Sum over earlier exits ``j`` of the mean cross-entropy between exit ``j`` and the target, over the
    samples whose selected exit lies after ``j``. ``None`` when every sample left at exit 0 (nothing to learn).

    Each head owns its parameters, so the sum gives every earlier head its own cross-entropy gradient."""
    terms = []
    for j, (logits, rows) in enumerate(zip(trace.head_logits, trace.reached)):
        later = trace.exits[rows] > j
        if bool(later.any()):
            terms.append(F.cross_entropy(logits[later], targets[rows[later]]))
    return torch.stack(terms).sum() if terms else None


def early_head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters the specialization may change: the heads of every exit but the last."""
    return [p for head in model.cls_blocks[:-1] for p in head.parameters()]


class Specializer:
    """SGD on the early heads from the model's own exit decisions (paper: lr 1e-4, batch size 1)."""

    def __init__(self, model: nn.Module, thresholds: torch.Tensor, lr: float = 1e-4, momentum: float = 0.0):
        if lr <= 0:
            raise ValueError(f"the specialization learning rate must be positive, got {lr}")
        self.model = model
        self.thresholds = thresholds
        self.optimizer = torch.optim.SGD(early_head_parameters(model), lr=lr, momentum=momentum)
        self.updates = 0

    def step(self, x: torch.Tensor) -> ExitTrace:
        """Predict ``x`` adaptively and update the earlier heads toward the selected exit's prediction."""
        self.model.eval()  # inference behaviour (no dropout/BN updates); only the heads' weights move
        trace = adaptive_forward(self.model, x, self.thresholds, head_grad=True)
        loss = specialization_loss(trace, pseudo_labels(trace.logits))
        if loss is not None:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.updates += 1
        return trace
