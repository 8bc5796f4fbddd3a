"""Adaptive inference with confidence-thresholded exits (TTS paper Sec. 3.2, after Leroux et al. 2015).

Columns run in order; after column ``i`` its head is evaluated and, when the largest softmax score
reaches the exit's threshold, that prediction is returned and the later columns are never computed.
The last exit always answers.

The pass keeps every tensor at the batch's shape: a sample that has left is marked in a mask (``torch.where``
picks its logits and exit index), never dropped by indexing, so no shape depends on the data and each column
can be captured or compiled once (:mod:`workloads.tts.compiled`). The only host read is one flag per early
exit ("is any sample still undecided?"): at batch 1 the later columns are skipped exactly as in the paper; at
a larger batch they run on the whole batch until every sample has left (the paper measures batch 1).
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


def effective_thresholds(thresholds: Sequence[float] | torch.Tensor, num_exits: int, device) -> torch.Tensor:
    """Per-exit thresholds as a float64 tensor on ``device`` (the last entry is never read: the last exit
    answers for every sample still undecided). Float64: each 0-d entry then compares at the confidences' own
    precision, as a Python float would."""
    t = torch.as_tensor(thresholds, dtype=torch.float64).flatten()
    if t.numel() != num_exits:
        raise ValueError(f"got {t.numel()} thresholds for a model with {num_exits} exits; give one per exit")
    return t.to(device)


def exit_decision(logits: torch.Tensor, threshold: torch.Tensor, out_logits: torch.Tensor, exits: torch.Tensor,
                  undecided: torch.Tensor, last: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The exit rule of Sec. 3.2 at one exit for the whole batch, as masks.

    A sample still ``undecided`` whose max-softmax reaches ``threshold`` (at the ``last`` exit: every one
    still undecided) leaves here: its ``out_logits`` row becomes ``logits``. ``exits`` counts the exits a
    sample has passed undecided, so once it has left it holds the index of its exit. Returns the new
    (out_logits, exits, undecided). Few kernels on purpose: at batch 1 each op is a launch."""
    fires = undecided if last else undecided & (max_softmax(logits) >= threshold)
    out_logits = torch.where(fires[:, None], logits, out_logits)
    undecided = undecided ^ fires  # fires lies inside undecided: this removes them
    return out_logits, exits if last else exits + undecided, undecided


@dataclass
class ExitTrace:
    """Outcome of one adaptive pass over a batch of B samples.

    logits: (B, C) logits of each sample's selected exit; exits: (B,) selected exit index;
    head_logits[j] / pooled[j]: logits of exit ``j`` and the pooled features it read, for the whole batch
    (rows of samples that left before ``j`` are computed but unused), for every column that ran;
    columns_run: how many columns ran (1 + the largest selected exit)."""

    logits: torch.Tensor
    exits: torch.Tensor
    head_logits: list[torch.Tensor] = field(default_factory=list)
    pooled: list[torch.Tensor] = field(default_factory=list)
    columns_run: int = 0


def column_exit_step(model: nn.Module, i: int, inputs: torch.Tensor, feats: list[torch.Tensor] | None,
                     threshold: torch.Tensor, out_logits: torch.Tensor, exits: torch.Tensor,
                     undecided: torch.Tensor) -> tuple:
    """Column ``i`` and its exit for the whole batch: the unit that is captured or compiled once per column.

    ``inputs`` is the image batch for column 0 (it goes through the stem here) and the stem output for the
    later columns. Returns (stem, feats, pooled, logits, out_logits, exits, undecided, any_undecided); the last
    is a 0-d bool tensor, the one value the caller reads on the host (``None`` at the last exit)."""
    stem = model.embed(inputs) if i == 0 else inputs
    feats = model.column(i)(stem, feats)
    head = model.cls_blocks[i]
    pooled = head.pool(feats[-1])
    logits = head.classifier(pooled)
    last = i == model.num_exits - 1
    out_logits, exits, undecided = exit_decision(logits, threshold, out_logits, exits, undecided, last)
    return stem, feats, pooled, logits, out_logits, exits, undecided, None if last else undecided.any()


def initial_exit_state(x: torch.Tensor, num_classes: int, dtype: torch.dtype
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(out_logits, exits, undecided) before the first column: nothing decided yet."""
    b = x.shape[0]
    return (torch.zeros(b, num_classes, dtype=dtype, device=x.device),
            torch.zeros(b, dtype=torch.int64, device=x.device),
            torch.ones(b, dtype=torch.bool, device=x.device))


@torch.no_grad()
def adaptive_forward(model: nn.Module, x: torch.Tensor, thresholds: Sequence[float] | torch.Tensor) -> ExitTrace:
    """Run ``model`` (an :class:`~workloads.tts.revcol.EarlyExitRevCol`) column by column until every sample's
    exit has fired (eager; :class:`workloads.tts.compiled.ExitRunner` runs the same steps captured or compiled).

    Without gradients: test-time specialization recomputes the early heads from ``trace.pooled`` (a LayerNorm
    and a Linear per head) instead of keeping a graph through the pass."""
    return run_exits(model, x, effective_thresholds(thresholds, model.num_exits, x.device))


@torch.no_grad()
def run_exits(model: nn.Module, x: torch.Tensor, thr: torch.Tensor, steps: Sequence | None = None) -> ExitTrace:
    """``adaptive_forward`` with thresholds already made by ``effective_thresholds``; ``steps[i]`` replaces
    ``column_exit_step`` for column ``i`` (a compiled version of it, called without the model and index)."""
    n_exits = model.num_exits
    out_logits, exits, undecided = initial_exit_state(x, model.num_classes, next(model.parameters()).dtype)
    trace = ExitTrace(logits=out_logits, exits=exits)
    inputs, feats = x, None
    for i in range(n_exits):
        args = (inputs, feats, thr[i], out_logits, exits, undecided)
        out = steps[i](*args) if steps is not None else column_exit_step(model, i, *args)
        inputs, feats, pooled, logits, out_logits, exits, undecided, left = out
        trace.head_logits.append(logits)
        trace.pooled.append(pooled)
        trace.columns_run = i + 1
        if i < n_exits - 1 and not bool(left):  # the one host read of this exit
            break
    trace.logits, trace.exits = out_logits, exits
    return trace
