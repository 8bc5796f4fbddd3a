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

import numpy as np
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


def learning_scale(host_exits: np.ndarray, count: int) -> np.ndarray | None:
    """(2, count, B) float64: s[j, b] = w_jb / max(Σ_b w_jb, 1), the factor of sample ``b``'s cross-entropy in
    head ``j``'s term of ``specialization_loss`` (w = ``learning_weights``), and -s. Made on the host from the
    exits the pass decided there, so the device gets it by one copy instead of a chain of small kernels.
    ``None`` when every s is 1: one sample that passed all ``count`` heads (batch 1, where nothing is copied)."""
    if host_exits.shape[0] == 1 and host_exits[0] >= count:
        return None
    w = (host_exits[None, :] > np.arange(count)[:, None]).astype(np.float64)
    s = w / np.maximum(w.sum(axis=1, keepdims=True), 1.0)
    return np.stack([s, -s])


def batch_sum(t: torch.Tensor) -> torch.Tensor:
    """``t.sum(1)``; at batch 1 the one row itself (a view: no kernel)."""
    return t[:, 0] if t.shape[1] == 1 else t.sum(1)


def closed_form_head_gradients(probs: torch.Tensor, pooled: torch.Tensor, normed: torch.Tensor,
                               weight: torch.Tensor, eps: float, scale: torch.Tensor | None, targets: torch.Tensor
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of ``specialization_loss`` w.r.t. H stacked heads' (LayerNorm weight γ, bias β, Linear weight W,
    bias b), from what the exit pass computed: ``probs`` (H, B, K) = softmax of the logits, ``pooled`` (H, B, D)
    the heads' inputs, ``normed`` (H, B, D) = y = γ·x̂ + β their LayerNorm outputs; ``weight`` (H, K, D);
    ``scale`` (2, H, B) = ``learning_scale``, or ``None`` when every s is 1 (batch 1: each of the H heads was
    passed by the one sample); ``targets`` (B,).

    A head is z = W·y + b with y = γ·x̂ + β and x̂ the LayerNorm (no affine) of its input; its loss is
    Σ_b s_b·CE(z_b, t_b). So dL/dz = s·(softmax(z) − onehot(t)), dW = (dL/dz)ᵀ·y, db = Σ_b dL/dz,
    dγ = Σ_b (dL/dz·W)·x̂, dβ = Σ_b dL/dz·W (tested against ``torch.autograd.grad`` of ``head_loss``).
    Returns (dγ, dβ) (H, D), dW (H, K, D), db (H, K)."""
    h, b, _ = probs.shape
    index = targets.view(1, b, 1).expand(h, b, 1)
    if scale is None:  # s = 1: dz = probs - onehot(t), in place in the stacked copy (the caller's own)
        dz = probs.scatter_(2, index, -1.0, reduce="add")
    else:
        dz = probs * scale[0][..., None]
        dz.scatter_add_(2, index, scale[1][..., None])  # - s·onehot(t)
    x_hat = F.layer_norm(pooled, pooled.shape[-1:], eps=eps)
    dy = torch.bmm(dz, weight)
    return batch_sum(dy * x_hat), batch_sum(dy), torch.bmm(dz.transpose(1, 2), normed), batch_sum(dz)


def head_gradients(model: nn.Module, pooled: Sequence[torch.Tensor], normed: Sequence[torch.Tensor],
                   probs: Sequence[torch.Tensor], exits: torch.Tensor, scale: torch.Tensor, targets: torch.Tensor,
                   count: int, closed_form: bool | None = None) -> list[torch.Tensor]:
    """Gradients of ``head_loss`` w.r.t. the parameters of the first ``count`` heads (in ``head.parameters()``
    order: LayerNorm weight, bias, Linear weight, bias), from the exit pass's ``pooled`` / ``normed`` / ``probs``
    (``ExitTrace``), its ``exits`` and ``learning_scale`` (on the device) and the ``targets``.

    ``closed_form`` (default: on CUDA) uses :func:`closed_form_head_gradients`, a dozen launches and no autograd;
    otherwise ``torch.autograd.grad`` (from ``pooled``, ``exits`` and ``targets`` only), which on a CPU is the faster
    of the two (no stacked weight copies)."""
    if closed_form is None:
        closed_form = pooled[0].is_cuda
    if not closed_form:
        params = early_head_parameters(model, count)
        with torch.enable_grad():
            return list(torch.autograd.grad(head_loss(model, pooled, exits, targets, count), params))
    heads = [model.cls_blocks[j].classifier for j in range(count)]
    weight = torch.stack([h[1].weight for h in heads]).detach()
    grads = closed_form_head_gradients(torch.stack(list(probs[:count])), torch.stack(list(pooled[:count])),
                                       torch.stack(list(normed[:count])), weight, heads[0][0].eps, scale, targets)
    return [g for head in zip(*(t.unbind(0) for t in grads)) for g in head]  # head by head, in parameters() order


class Specializer:
    """SGD on the early heads from the model's own exit decisions (paper: lr 1e-4, batch size 1).

    ``compile``: ``none`` (eager), ``graph`` (CUDA graphs of every column and of the update) or ``inductor``
    (``torch.compile``); all three compute the same step (:mod:`workloads.tts.compiled`), as ``lookahead`` 0 and 1
    do (``compiled.ExitRunner``)."""

    def __init__(self, model: nn.Module, thresholds: torch.Tensor, lr: float = 1e-4, momentum: float = 0.0,
                 compile: str = "none", lookahead: int = 0):
        from workloads.tts.compiled import ExitRunner  # compiled imports this module's functions

        if lr <= 0:
            raise ValueError(f"the specialization learning rate must be positive, got {lr}")
        if momentum < 0:
            raise ValueError(f"the specialization momentum must be >= 0, got {momentum}")
        self.model = model
        self.thresholds = thresholds
        self.lr, self.momentum = lr, momentum
        self.buffers = [torch.zeros_like(p) for p in early_head_parameters(model)]
        self.params = {c: early_head_parameters(model, c) for c in range(1, model.num_exits)}  # listed once
        self.runner = ExitRunner(model, thresholds, compile=compile, update=self, lookahead=lookahead)
        self.updates = 0

    def step(self, x: torch.Tensor) -> ExitTrace:
        """Predict ``x`` adaptively and update the earlier heads toward the selected exit's prediction."""
        if self.model.training:  # inference behaviour (no dropout/BN updates); only the heads' weights move
            self.model.eval()  # (only when needed: walking RevCol-T's ~400 modules costs more than the update)
        trace = self.runner(x)
        count = learned_heads(trace.columns_run, self.model.num_exits)
        if count:
            self.runner.update(trace, count)
            self.updates += 1
        return trace

    def update_heads(self, pooled: Sequence[torch.Tensor], normed: Sequence[torch.Tensor],
                     probs: Sequence[torch.Tensor], exits: torch.Tensor, scale: torch.Tensor,
                     out_logits: torch.Tensor, count: int, gradients: Callable | None = None) -> None:
        """The step itself: targets, gradients of the first ``count`` heads, SGD (the unit a graph captures).
        ``gradients(pooled, normed, probs, exits, scale, targets, count)`` replaces ``head_gradients`` (a
        compiled version of it)."""
        targets = pseudo_labels(out_logits)
        args = (pooled, normed, probs, exits, scale, targets, count)
        grads = gradients(*args) if gradients else head_gradients(self.model, *args)
        sgd_update_(self.params[count], grads, self.buffers[:len(grads)], self.lr, self.momentum)
