"""The exit pass and the specialization step run eagerly, as CUDA graphs, or compiled (``compile`` option).

``none``: the eager functions of :mod:`workloads.tts.early_exit` / :mod:`workloads.tts.specialization`.
``graph``: each column's :func:`~workloads.tts.early_exit.column_exit_step` and each update (one per number of
learned heads) captured once per input shape with ``torch.cuda.graph`` and replayed; CUDA only. Batch 1 RevCol
inference is bound by kernel launches on a large GPU, which replaying a graph removes.
``inductor``: the column steps and the update's closed-form gradients through ``torch.compile`` (backend
inductor, static shapes); the SGD arithmetic stays eager (a few foreach kernels).

Every mode does the same arithmetic in the same order, so the results equal the eager ones (bit for bit for
``graph``; inductor may fuse and reorder floating-point operations, to rounding).
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

import torch
import torch.nn as nn

from workloads.tts.early_exit import ExitTrace, column_exit_step, effective_thresholds, initial_exit_state, run_exits
from workloads.tts.specialization import early_head_parameters, head_gradients

COMPILE_MODES = ("none", "graph", "inductor")
WARMUP_RUNS = 3  # eager runs on a side stream before a capture (cuDNN/cuBLAS pick their kernels then)


def check_compile_mode(mode: str, device: torch.device) -> None:
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile={mode!r} is unknown; use one of {', '.join(COMPILE_MODES)} (none = eager)")
    if mode == "graph" and device.type != "cuda":
        raise ValueError(f"compile=graph captures CUDA graphs, but the model is on {device}; use compile: none or "
                         f"inductor on a CPU, or run on a CUDA device")


class _ColumnGraphs:
    """Captured graphs of every column's exit step for one input shape, chained through static tensors, and the
    captured updates (one per number of learned heads) that read those tensors."""

    def __init__(self, model: nn.Module, x: torch.Tensor, thr: torch.Tensor):
        self.x = x.clone()
        # a graph holds no reference to what it reads: keep the first column's inputs alive here, or their
        # memory is reused and the replay reads garbage
        self.initial = initial_exit_state(x, model.num_classes, next(model.parameters()).dtype)
        self.thr = thr
        out_logits, exits, undecided = self.initial
        self.graphs: list[torch.cuda.CUDAGraph] = []
        self.outputs: list[tuple] = []
        self.updates: dict[int, torch.cuda.CUDAGraph] = {}
        inputs, feats = self.x, None
        for i in range(model.num_exits):
            step = partial(column_exit_step, model, i, inputs, feats, thr[i], out_logits, exits, undecided)
            graph, out = _capture(step)
            self.graphs.append(graph)
            self.outputs.append(out)
            inputs, feats, _, _, out_logits, exits, undecided, _ = out

    def run(self, x: torch.Tensor) -> ExitTrace:
        """Replay column by column; the trace holds the static tensors (valid until the next replay)."""
        self.x.copy_(x)
        n = len(self.graphs)
        trace = ExitTrace(logits=self.outputs[0][4], exits=self.outputs[0][5])
        for i, graph in enumerate(self.graphs):
            graph.replay()
            _, _, pooled, logits, out_logits, exits, _, left = self.outputs[i]
            trace.head_logits.append(logits)
            trace.pooled.append(pooled)
            trace.columns_run = i + 1
            trace.logits, trace.exits = out_logits, exits
            if i < n - 1 and not bool(left):  # the one host read of this exit
                break
        return trace


def _capture(fn, restore: Sequence[torch.Tensor] = ()) -> tuple[torch.cuda.CUDAGraph, object]:
    """``fn()`` warmed up on a side stream, then captured in its own memory pool; returns (graph, outputs).

    ``restore``: tensors the warm-up runs change (an update's parameters and momentum buffers), put back to
    their values before the capture, which itself computes nothing."""
    saved = [t.detach().clone() for t in restore]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(WARMUP_RUNS):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    with torch.no_grad():
        for t, s in zip(restore, saved):
            t.copy_(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    return graph, out


def _allow_recompiles(count: int) -> None:
    """Raise dynamo's per-function recompile limit (default 8) to ``count``: every column (and every input
    shape) is one compiled specialisation of the same ``column_exit_step``, and past the limit dynamo silently
    runs the function eagerly (seen on the H200: batch 32's last column fell back)."""
    cfg = torch._dynamo.config
    name = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"
    setattr(cfg, name, max(getattr(cfg, name), count))


class ExitRunner:
    """``runner(x) -> ExitTrace`` in the chosen mode; with ``update`` (a Specializer) also
    ``runner.update(trace, count)``, the SGD step of the first ``count`` heads from that trace."""

    def __init__(self, model: nn.Module, thresholds: Sequence[float] | torch.Tensor, compile: str = "none",
                 update=None):
        device = next(model.parameters()).device
        check_compile_mode(compile, device)
        self.model, self.mode, self.spec = model, compile, update
        self.thr = effective_thresholds(thresholds, model.num_exits, device)
        self._graphs: dict[tuple, _ColumnGraphs] = {}
        self._last: _ColumnGraphs | None = None
        self._steps = self._grads = None
        if compile == "inductor":
            _allow_recompiles(8 * model.num_exits)
            self._steps = [torch.compile(partial(column_exit_step, model, i), dynamic=False)
                           for i in range(model.num_exits)]
            self._grads = torch.compile(partial(head_gradients, model), dynamic=False)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> ExitTrace:
        if self.mode != "graph":
            return run_exits(self.model, x, self.thr, self._steps)
        key = (tuple(x.shape), x.dtype)
        if key not in self._graphs:
            self._graphs[key] = _ColumnGraphs(self.model, x, self.thr)
        self._last = self._graphs[key]
        return self._last.run(x)

    def update(self, trace: ExitTrace, count: int) -> None:
        """One SGD step of the first ``count`` early heads from ``trace`` (the last pass of this runner)."""
        spec = self.spec
        if self.mode != "graph":
            spec.update_heads(trace.pooled, trace.exits, trace.logits, count, self._grads)
            return
        graphs = self._last
        if count not in graphs.updates:
            step = partial(spec.update_heads, trace.pooled[:count], trace.exits, trace.logits, count)
            graphs.updates[count], _ = _capture(step, restore=early_head_parameters(self.model) + spec.buffers)
        graphs.updates[count].replay()


class PlainRunner:
    """The plain model (all columns, last head: the paper's baseline) in the same mode as an ``ExitRunner``, so
    the two are compared like for like."""

    def __init__(self, model: nn.Module, compile: str = "none"):
        check_compile_mode(compile, next(model.parameters()).device)
        self.model, self.mode = model, compile
        self._fn = torch.compile(model, dynamic=False) if compile == "inductor" else model
        self._graphs: dict[tuple, tuple[torch.Tensor, torch.cuda.CUDAGraph, torch.Tensor]] = {}

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode != "graph":
            return self._fn(x)
        key = (tuple(x.shape), x.dtype)
        if key not in self._graphs:
            static = x.clone()
            graph, out = _capture(partial(self.model, static))
            self._graphs[key] = (static, graph, out)
        static, graph, out = self._graphs[key]
        static.copy_(x)
        graph.replay()
        return out
