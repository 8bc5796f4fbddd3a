"""The multi-level reversible unit of a RevCol column and its memory-saving backward.

RevCol (Cai et al., ICLR 2023, Sec. 3.2, multi-level reversible unit) updates the hierarchical features
``c_0 .. c_{K-1}`` of the previous column into those of the next one, level by level:

    c'_l = L_l(c'_{l-1}, c_{l+1}) + alpha_l * c_l          (c'_{-1} = x, the stem output; c_K absent)

``L_l`` is the level's fusion (down-sampled lower level of the *new* column plus up-sampled upper level
of the *old* column) followed by ConvNeXt blocks. Because ``alpha_l`` is a non-zero per-channel scale,
the old features follow from the new ones, top level first:

    c_l = (c'_l - L_l(c'_{l-1}, c_{l+1})) / alpha_l

so the backward pass can rebuild every activation instead of keeping it (Gomez et al., 2017).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

Level = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def column_forward(levels: Sequence[Level], alphas: Sequence[torch.Tensor], x: torch.Tensor,
                   old: Sequence[torch.Tensor] | None, stop: Callable[[], bool] | None = None
                   ) -> list[torch.Tensor] | None:
    """New hierarchical features of one column (the equation in the module docstring).

    ``old`` is ``None`` for the first column: it has no previous features (they are zero) and its
    levels take no top-down input. ``stop``, asked before every level after the first, returns True when
    the column is no longer wanted: the rest is not launched and the result is ``None``."""
    new: list[torch.Tensor] = []
    lower = x
    for l, level in enumerate(levels):
        if l and stop is not None and stop():
            return None
        if old is None:
            c = level(lower, None)
        else:
            upper = old[l + 1] if l + 1 < len(levels) else None
            c = level(lower, upper) + alphas[l] * old[l]
        new.append(c)
        lower = c
    return new


@torch.no_grad()
def column_inverse(levels: Sequence[Level], alphas: Sequence[torch.Tensor], x: torch.Tensor,
                   new: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Reconstruct the previous column's features from this column's output (inverse of ``column_forward``).

    Top-down: level ``l`` needs the reconstructed ``c_{l+1}`` of the old column as its upper input."""
    k = len(levels)
    old: list[torch.Tensor | None] = [None] * k
    for l in reversed(range(k)):
        lower = x if l == 0 else new[l - 1]
        upper = old[l + 1] if l + 1 < k else None
        old[l] = (new[l] - levels[l](lower, upper)) / alphas[l]
    return old  # type: ignore[return-value]


def _alpha_grad(grad: torch.Tensor, value: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """d(loss)/d(alpha) for ``alpha * value`` broadcast over batch and space: sum to alpha's shape."""
    g = grad * value
    dims = [d for d in range(g.dim()) if alpha.shape[d] == 1 and g.shape[d] != 1]
    return g.sum(dim=dims, keepdim=True)


class ReversibleColumnFunction(torch.autograd.Function):
    """``column_forward`` whose backward rebuilds the column's input features from its output.

    Only the column's outputs (and the shared stem output ``x``) are kept; the activations inside the
    levels and the old features are recomputed in ``backward``. Inputs: ``levels`` (the modules),
    ``num_params`` (how many parameters each level owns), ``first`` (no previous column), then the
    tensors ``x, c_0..c_{K-1}`` (``None`` for the first column), ``alpha_0..alpha_{K-1}`` and every level
    parameter, so that autograd hands their gradients back like for any other op."""

    @staticmethod
    def forward(ctx, levels, num_params, first, x, *rest):
        k = len(levels)
        old, alphas = rest[:k], rest[k:2 * k]
        ctx.levels, ctx.num_params, ctx.first, ctx.k = levels, num_params, first, k
        new = column_forward(levels, alphas, x, None if first else old)
        ctx.save_for_backward(x, *alphas, *new, *rest[2 * k:])
        return tuple(new)

    @staticmethod
    def backward(ctx, *grad_new):
        k, levels, first = ctx.k, ctx.levels, ctx.first
        saved = ctx.saved_tensors
        x, alphas = saved[0], saved[1:1 + k]
        new, params = [t.detach() for t in saved[1 + k:1 + 2 * k]], list(saved[1 + 2 * k:])
        offsets = [0]
        for n in ctx.num_params:
            offsets.append(offsets[-1] + n)
        grads = [g if g is not None else torch.zeros_like(c) for g, c in zip(grad_new, new)]
        grad_x = torch.zeros_like(x)
        grad_old: list[torch.Tensor | None] = [None] * k
        grad_alpha: list[torch.Tensor | None] = [None] * k
        grad_params: list[torch.Tensor | None] = [None] * len(params)
        upper_old = None  # c_{l+1} of the old column, rebuilt at the previous (higher) level
        for l in reversed(range(k)):
            # grads[l] is complete here: level l+1 (processed before) was its only other consumer
            lower = (x if l == 0 else new[l - 1]).detach().requires_grad_(True)
            level_params = params[offsets[l]:offsets[l + 1]]
            inputs = [lower] + ([upper_old] if upper_old is not None else []) + level_params
            with torch.enable_grad():
                out = levels[l](lower, upper_old)
            g_in = torch.autograd.grad(out, inputs, grads[l], allow_unused=True)
            if l == 0:
                grad_x = grad_x + g_in[0]
            else:
                grads[l - 1] = grads[l - 1] + g_in[0]
            if upper_old is not None and g_in[1] is not None:
                grad_old[l + 1] = grad_old[l + 1] + g_in[1]
            for i, g in enumerate(g_in[len(inputs) - len(level_params):]):
                grad_params[offsets[l] + i] = g
            if first:
                continue
            with torch.no_grad():
                old_l = (new[l] - out.detach()) / alphas[l]  # feature reverse: the old column's c_l
            grad_alpha[l] = _alpha_grad(grads[l], old_l, alphas[l])
            grad_old[l] = grads[l] * alphas[l]
            upper_old = old_l.requires_grad_(True)
        grad_old_out = [None] * k if first else grad_old
        return (None, None, None, grad_x, *grad_old_out, *grad_alpha, *grad_params)


def reversible_column(levels: Sequence[torch.nn.Module], alphas: Sequence[torch.Tensor], x: torch.Tensor,
                      old: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
    """``column_forward`` with the activation-free backward of :class:`ReversibleColumnFunction`."""
    params = [list(level.parameters()) for level in levels]
    olds = [None] * len(levels) if old is None else list(old)
    out = ReversibleColumnFunction.apply(tuple(levels), tuple(len(p) for p in params), old is None, x, *olds,
                                         *alphas, *[p for ps in params for p in ps])
    return list(out)
