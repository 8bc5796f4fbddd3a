"""Adaptive inference with confidence-thresholded exits (TTS paper Sec. 3.2, after Leroux et al. 2015).

Columns run in order; after column ``i`` its head is evaluated and, when the largest softmax score
reaches the exit's threshold, that prediction is returned and the later columns are never computed.
The last exit always answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn

NEVER = float("inf")  # a threshold no softmax score reaches: the exit never fires


def max_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Confidence of a prediction: the largest softmax probability (Sec. 3.2), shape (B,)."""
    return logits.softmax(dim=-1).amax(dim=-1)


def select_exit(confidences: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Index of the first exit whose confidence reaches its threshold; the last exit when none does.

    ``confidences``: (B, N) max-softmax of every exit; ``thresholds``: (N,) (the last entry is ignored)."""
    fires = confidences >= thresholds.to(confidences)
    fires[:, -1] = True
    return fires.to(torch.int64).argmax(dim=1)  # argmax returns the first maximal index


def uniform_thresholds(threshold: float, num_exits: int) -> torch.Tensor:
    """One threshold for every exit (Table 1, "Threshold" rows)."""
    return torch.full((num_exits,), float(threshold))


def fixed_exit_thresholds(exit_index: int, num_exits: int) -> torch.Tensor:
    """Thresholds that always stop at ``exit_index`` after evaluating every earlier head (Table 1, "Fixed exit")."""
    if not 0 <= exit_index < num_exits:
        raise ValueError(f"fixed exit {exit_index} does not exist: the model has exits 0..{num_exits - 1}")
    t = torch.full((num_exits,), NEVER)
    t[exit_index] = 0.0
    return t


@dataclass
class ExitTrace:
    """Outcome of one adaptive pass over a batch.

    logits: (B, C) logits of each sample's selected exit; exits: (B,) selected exit index;
    head_logits[j]: logits of exit ``j`` for the samples that reached column ``j`` (rows ``reached[j]``)."""

    logits: torch.Tensor
    exits: torch.Tensor
    head_logits: list[torch.Tensor] = field(default_factory=list)
    reached: list[torch.Tensor] = field(default_factory=list)


def adaptive_forward(model: nn.Module, x: torch.Tensor, thresholds: Sequence[float] | torch.Tensor,
                     head_grad: bool = False) -> ExitTrace:
    """Run ``model`` (an :class:`~workloads.tts.revcol.EarlyExitRevCol`) column by column, dropping every
    sample whose exit fired, so later columns only see (and spend compute on) the undecided samples.

    The backbone runs without gradients; with ``head_grad`` the heads keep their graph, so test-time
    specialization can back-propagate into them without evaluating them twice (Sec. 3.3)."""
    thresholds = torch.as_tensor(thresholds, dtype=torch.float32)
    n_exits = model.num_exits
    if thresholds.numel() != n_exits:
        raise ValueError(f"got {thresholds.numel()} thresholds for a model with {n_exits} exits; give one per exit")
    b = x.shape[0]
    out_logits = None
    exits = torch.full((b,), n_exits - 1, dtype=torch.int64, device=x.device)
    active = torch.arange(b, device=x.device)
    trace = ExitTrace(logits=torch.empty(0), exits=exits)
    with torch.no_grad():
        stem = model.embed(x)
    feats = None
    for i in range(n_exits):
        with torch.no_grad():
            feats = model.column(i)(stem, feats)
        with torch.set_grad_enabled(head_grad):
            logits = model.cls_blocks[i](feats[-1])
        if out_logits is None:
            out_logits = logits.new_empty((b, logits.shape[1]))
        trace.head_logits.append(logits)
        trace.reached.append(active)
        if i == n_exits - 1:
            done = torch.ones(len(active), dtype=torch.bool, device=x.device)
        else:
            done = max_softmax(logits.detach()) >= thresholds[i].item()
        out_logits[active[done]] = logits.detach()[done]
        exits[active[done]] = i
        keep = ~done
        if not bool(keep.any()):
            break
        if not bool(keep.all()):  # at batch 1 the samples still running are all of them: skip the gather
            active = active[keep]
            stem = stem[keep]
            feats = [f[keep] for f in feats]
    trace.logits = out_logits
    return trace
