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
                   count: int, closed_form: bool | None = None) -> list[torch.Tensor]:
    """Gradients of ``head_loss`` w.r.t. the parameters of the first ``count`` heads (in ``head.parameters()``
    order: LayerNorm weight, bias, Linear weight, bias).

    ``closed_form`` (default: on CUDA) uses :func:`closed_form_head_gradients`, few launches and no autograd;
    otherwise ``torch.autograd.grad``, which on a CPU is the faster of the two (no stacked weight copies)."""
    if closed_form is None:
        closed_form = pooled[0].is_cuda
    if closed_form:
        return closed_form_head_gradients(model, pooled, exits, targets, count)
    params = early_head_parameters(model, count)
    with torch.enable_grad():
        return list(torch.autograd.grad(head_loss(model, pooled, exits, targets, count), params))


def closed_form_head_gradients(model: nn.Module, pooled: Sequence[torch.Tensor], exits: torch.Tensor,
                               targets: torch.Tensor, count: int) -> list[torch.Tensor]:
    """``head_gradients`` in closed form, for all ``count`` heads at once.

    A head is z = W·(γ·x̂ + β) + b with x̂ the LayerNorm of the pooled features; its loss is
    Σ_b s_b·CE(z_b, t_b) with s_b = w_b / max(Σw, 1) (``learning_weights``). So dL/dz = s·(softmax(z) − onehot(t)),
    dW = (dL/dz)ᵀ·y, db = Σ_b dL/dz, dγ = Σ_b (dL/dz·W)·x̂, dβ = Σ_b dL/dz·W (y = γ·x̂ + β). Stacking the
    heads (they share one shape) makes this ~30 batched kernels without autograd, where autograd took 70
    launches and ~50 µs each on an H200 host (tested against ``torch.autograd.grad`` of ``head_loss``). On a CPU
    the stacked copies of the Linear weights make it slower for RevCol-T's 1000-class heads (34 vs 15 ms)."""
    heads = [model.cls_blocks[j].classifier for j in range(count)]
    ln = heads[0][0]
    gamma = torch.stack([h[0].weight for h in heads]).detach()[:, None, :]  # (H, 1, D)
    beta = torch.stack([h[0].bias for h in heads]).detach()[:, None, :]
    weight = torch.stack([h[1].weight for h in heads]).detach()  # (H, K, D)
    bias = torch.stack([h[1].bias for h in heads]).detach()[:, None, :]  # (H, 1, K)
    x = torch.stack(list(pooled[:count]))  # (H, B, D)
    xc = x - x.mean(-1, keepdim=True)
    xhat = xc * torch.rsqrt((xc * xc).mean(-1, keepdim=True) + ln.eps)
    y = xhat * gamma + beta
    z = torch.baddbmm(bias, y, weight.transpose(1, 2))  # (H, B, K)
    w = (exits[None, :] > torch.arange(count, device=exits.device)[:, None]).to(z.dtype)  # (H, B)
    scale = w / w.sum(1, keepdim=True).clamp_min(1.0)
    # one-hot by comparison: F.one_hot validates the labels with a host read on some devices
    onehot = (torch.arange(z.shape[-1], device=z.device)[None, :] == targets[:, None]).to(z.dtype)
    dz = (z.softmax(-1) - onehot) * scale[..., None]
    dy = torch.bmm(dz, weight)
    d_weight = torch.bmm(dz.transpose(1, 2), y)
    d_bias, d_beta, d_gamma = dz.sum(1), dy.sum(1), (dy * xhat).sum(1)
    return [g for j in range(count) for g in (d_gamma[j], d_beta[j], d_weight[j], d_bias[j])]


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
                     count: int, gradients: Callable | None = None) -> None:
        """The step itself: targets, gradients of the first ``count`` heads, SGD (the unit a graph captures).
        ``gradients(pooled, exits, targets, count)`` replaces ``head_gradients`` (a compiled version of it)."""
        targets = pseudo_labels(out_logits)
        grads = (gradients(pooled, exits, targets, count) if gradients
                 else head_gradients(self.model, pooled, exits, targets, count))
        sgd_update_(early_head_parameters(self.model, count), grads, self.buffers[:len(grads)], self.lr,
                    self.momentum)
