"""Test-time specialization of the early exits (TTS paper Sec. 3.3 and 4.2).

For every incoming image the adaptive model answers from the first confident exit ``k``. Its prediction
is the target of a cross-entropy loss on the earlier exits ``0..k-1`` (which were evaluated anyway and
were not confident); only those heads take an SGD step. The backbone and the last exit never change,
so the model keeps the baseline's accuracy on every class at its last exit.

The update keeps the batch's shape: which samples teach which head is a 0/1 weight, not an index, so the
step can be captured once (:mod:`workloads.tts.compiled`) and needs no host read (whether anything is
learned at all follows from how many columns ran, which the exit pass already knows on the host).
TTS has no released code: the paper's text is the reference.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from workloads.tts.early_exit import ExitTrace


def pseudo_labels(selected_logits: torch.Tensor) -> torch.Tensor:
    """Targets from the selected exit: its predicted class (no label is needed, Sec. 3.3)."""
    return selected_logits.detach().argmax(dim=-1)


def learning_weights(exits: torch.Tensor, j: int, dtype: torch.dtype) -> torch.Tensor:
    """1 for the samples whose selected exit lies after exit ``j`` (exit ``j`` was evaluated and not
    confident, so it learns from them, Sec. 3.3), else 0; shape (B,)."""
    return (exits > j).to(dtype)


def specialization_loss(head_logits: Sequence[torch.Tensor], exits: torch.Tensor, targets: torch.Tensor
                        ) -> torch.Tensor:
    """Sec. 3.3: the sum over earlier exits ``j`` of the mean cross-entropy between exit ``j`` and the target,
    the mean taken over the samples whose selected exit lies after ``j`` (``learning_weights``); an exit that
    no sample passed adds 0. ``head_logits[j]``: (B, C) logits of exit ``j`` for the whole batch.

    Each head owns its parameters, so the sum gives every earlier head its own cross-entropy gradient."""
    total = head_logits[0].new_zeros(())
    for j, logits in enumerate(head_logits):
        w = learning_weights(exits, j, logits.dtype)
        ce = F.cross_entropy(logits, targets, reduction="none")
        total = total + (w * ce).sum() / w.sum().clamp_min(1.0)
    return total


def learned_heads(columns_run: int, num_exits: int) -> int:
    """How many early heads take a step after a pass that ran ``columns_run`` columns: the heads before the
    deepest selected exit (``columns_run - 1``; never the last head). 0 = every sample left at exit 0."""
    return max(0, min(columns_run, num_exits) - 1)


def early_head_parameters(model: nn.Module, count: int | None = None) -> list[nn.Parameter]:
    """Parameters the specialization may change: the heads of the first ``count`` exits (default: every exit
    but the last)."""
    heads = model.cls_blocks[:-1] if count is None else model.cls_blocks[:count]
    return [p for head in heads for p in head.parameters()]


def sgd_update_(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], buffers: Sequence[torch.Tensor],
                lr: float, momentum: float) -> None:
    """One in-place step of ``torch.optim.SGD`` (no dampening, nesterov or weight decay; paper: plain SGD):
    ``buf = momentum * buf + grad`` (``buf`` starts at 0, which equals torch's first-step ``buf = grad``),
    ``p -= lr * buf``; with ``momentum = 0``, ``p -= lr * grad``. Written out so it can run inside a captured
    graph without an optimizer's Python-side state."""
    with torch.no_grad():
        if momentum == 0.0:
            torch._foreach_add_(list(params), list(grads), alpha=-lr)
            return
        torch._foreach_mul_(list(buffers), momentum)
        torch._foreach_add_(list(buffers), list(grads))
        torch._foreach_add_(list(params), list(buffers), alpha=-lr)


def head_loss(model: nn.Module, pooled: Sequence[torch.Tensor], exits: torch.Tensor, targets: torch.Tensor,
              count: int) -> torch.Tensor:
    """``specialization_loss`` of the first ``count`` heads, recomputed from the pooled features of the exit
    pass (a LayerNorm and a Linear each)."""
    logits = [model.cls_blocks[j].classifier(pooled[j]) for j in range(count)]
    return specialization_loss(logits, exits, targets)


def head_gradients(model: nn.Module, pooled: Sequence[torch.Tensor], exits: torch.Tensor, targets: torch.Tensor,
                   count: int, loss_fn: Callable | None = None) -> list[torch.Tensor]:
    """Gradients of ``head_loss`` w.r.t. the parameters of the first ``count`` heads; ``loss_fn(pooled, exits,
    targets, count)`` replaces ``head_loss`` (a compiled version of it)."""
    params = early_head_parameters(model, count)
    with torch.enable_grad():
        loss = loss_fn(pooled, exits, targets, count) if loss_fn else head_loss(model, pooled, exits, targets, count)
        return list(torch.autograd.grad(loss, params))


class Specializer:
    """SGD on the early heads from the model's own exit decisions (paper: lr 1e-4, batch size 1).

    ``compile``: ``none`` (eager), ``graph`` (CUDA graphs of every column and of the update) or ``inductor``
    (``torch.compile``); all three compute the same step (:mod:`workloads.tts.compiled`)."""

    def __init__(self, model: nn.Module, thresholds: torch.Tensor, lr: float = 1e-4, momentum: float = 0.0,
                 compile: str = "none"):
        from workloads.tts.compiled import ExitRunner  # compiled imports this module's functions

        if lr <= 0:
            raise ValueError(f"the specialization learning rate must be positive, got {lr}")
        if momentum < 0:
            raise ValueError(f"the specialization momentum must be >= 0, got {momentum}")
        self.model = model
        self.thresholds = thresholds
        self.lr, self.momentum = lr, momentum
        self.buffers = [torch.zeros_like(p) for p in early_head_parameters(model)]
        self.runner = ExitRunner(model, thresholds, compile=compile, update=self)
        self.updates = 0

    def step(self, x: torch.Tensor) -> ExitTrace:
        """Predict ``x`` adaptively and update the earlier heads toward the selected exit's prediction."""
        self.model.eval()  # inference behaviour (no dropout/BN updates); only the heads' weights move
        trace = self.runner(x)
        count = learned_heads(trace.columns_run, self.model.num_exits)
        if count:
            self.runner.update(trace, count)
            self.updates += 1
        return trace

    def update_heads(self, pooled: Sequence[torch.Tensor], exits: torch.Tensor, out_logits: torch.Tensor,
                     count: int, loss_fn: Callable | None = None) -> None:
        """The step itself: targets, gradients of the first ``count`` heads, SGD (the unit a graph captures)."""
        grads = head_gradients(self.model, pooled, exits, pseudo_labels(out_logits), count, loss_fn)
        sgd_update_(early_head_parameters(self.model, count), grads, self.buffers[:len(grads)], self.lr,
                    self.momentum)
