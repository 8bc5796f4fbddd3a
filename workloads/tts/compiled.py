"""The exit pass and the specialization step run eagerly, as CUDA graphs, or compiled (``compile`` option).

``none``: the eager functions of :mod:`workloads.tts.early_exit` / :mod:`workloads.tts.specialization`.
``graph``: each column's :func:`~workloads.tts.early_exit.column_decision_step` (the column, its exit and the exit
rule on the device) and each update (one per number of learned heads) captured once per input shape with
``torch.cuda.graph`` and replayed; CUDA only. Batch 1 RevCol inference is bound by kernel launches on a large GPU,
which replaying a graph removes; so the GPU, not the host, is behind, and the host reads one 0-d flag per early
exit (is any sample undecided?) rather than waiting for the scores and deciding while the GPU idles (what the
eager path does: there the scores have arrived by the time they are asked for).
``inductor``: the column steps and the update's closed-form gradients through ``torch.compile`` (backend
inductor, static shapes); the SGD arithmetic stays eager (a few foreach kernels). Its kernels are still launched
one by one, as eager ones, so it keeps the eager pass's host decisions.

Every mode does the same arithmetic in the same order, so the results equal the eager ones (bit for bit for
``graph``; inductor may fuse and reorder floating-point operations, to rounding).
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

import torch
import torch.nn as nn

from workloads.tts.early_exit import (DecidedColumn, ExitTrace, HostStaging, column_decision_step, column_exit_step,
                                      effective_thresholds, host_copy, initial_exit_state, run_exits, thresholds_as,
                                      to_device)
from workloads.tts.specialization import early_head_parameters, head_gradients, learning_scale

COMPILE_MODES = ("none", "graph", "inductor")
WARMUP_RUNS = 3  # eager runs on a side stream before a capture (cuDNN/cuBLAS pick their kernels then)


def check_compile_mode(mode: str, device: torch.device) -> None:
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile={mode!r} is unknown; use one of {', '.join(COMPILE_MODES)} (none = eager)")
    if mode == "graph" and device.type != "cuda":
        raise ValueError(f"compile=graph captures CUDA graphs, but the model is on {device}; use compile: none or "
                         f"inductor on a CPU, or run on a CUDA device")


class _ColumnGraphs:
    """Captured graphs of every column's decision step for one input shape, chained through static tensors, and the
    captured updates (one per number of learned heads) with the static inputs they read."""

    def __init__(self, model: nn.Module, x: torch.Tensor, thr):
        self.x = x.clone()
        dtype = next(model.parameters()).dtype
        # a graph holds no reference to what it reads: keep the first column's exit state alive here, or its
        # memory is reused and the replay reads garbage
        self.initial = initial_exit_state(x, model.num_classes, dtype)
        thresholds = thresholds_as(thr, dtype)  # compared in the scores' dtype, as the host decisions do
        self.graphs: list[torch.cuda.CUDAGraph] = []
        self.outputs: list[DecidedColumn] = []
        self.updates: dict[tuple[int, bool], tuple[torch.cuda.CUDAGraph, tuple]] = {}  # (count, batch-1 scale)
        self.staging = HostStaging()  # the flags' pinned buffers and events when replaying ahead
        inputs, feats, state = self.x, None, self.initial
        for i in range(model.num_exits):
            step = partial(column_decision_step, model, i, float(thresholds[i]), inputs, feats, *state)
            graph, out = _capture(step)
            self.graphs.append(graph)
            self.outputs.append(out)
            inputs, feats, state = out.stem, out.feats, (out.out_logits, out.exits, out.undecided)

    def run(self, x: torch.Tensor, lookahead: int = 0) -> ExitTrace:
        """Replay column by column, reading each early exit's 0-d flag (one blocking read, the only one per exit:
        a replayed column cannot stop half-way, and whether to replay the next is all the host needs); the trace
        holds the static tensors (valid until the next replay).

        ``lookahead=1``: replay column ``i + 1`` before reading exit ``i``'s flag (copied without blocking, an
        event after it), so the GPU never waits for the host between columns; when every sample has left at
        exit ``i`` the column replayed ahead is wasted GPU work (its outputs are its own static tensors, which
        the trace does not hold), so the results are the same."""
        self.x.copy_(x)
        if lookahead:
            return self._trace(self._replay_ahead())
        for i, graph in enumerate(self.graphs):
            graph.replay()
            left = self.outputs[i].any_undecided
            if left is not None and not bool(left):  # every sample has left: the later columns never run
                break
        return self._trace(i)

    def _replay_ahead(self) -> int:
        """The columns replayed one ahead of the flag reads (``run`` with ``lookahead=1``); returns the last
        column whose results count."""
        n = len(self.graphs)
        stream = torch.cuda.current_stream(self.x.device) if self.x.is_cuda else None
        flags = []

        def post(i: int) -> None:
            flags.append(host_copy(self.outputs[i].any_undecided, self.staging, ("flag", i), stream))

        self.graphs[0].replay()
        post(0)
        for i in range(n - 1):  # exit i's flag is read once column i + 1 is queued behind it
            self.graphs[i + 1].replay()
            if i + 1 < n - 1:
                post(i + 1)
            flag, event = flags[i]
            if event is not None:
                event.synchronize()
            if not bool(flag):  # every sample has left at exit i
                return i
        return n - 1

    def _trace(self, last: int) -> ExitTrace:
        """The trace of a pass whose results end at column ``last`` (its static tensors)."""
        ran = self.outputs[:last + 1]
        return ExitTrace(logits=ran[-1].out_logits, decided=ran[-1].exits, head_logits=[o.logits for o in ran],
                         pooled=[o.pooled for o in ran], normed=[o.normed for o in ran],
                         probs=[o.probs for o in ran if o.probs is not None], columns_run=last + 1)


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
                 update=None, lookahead: int = 0):
        device = next(model.parameters()).device
        check_compile_mode(compile, device)
        self.model, self.mode, self.spec = model, compile, update
        # eager: launch the next column while an exit's scores travel (``early_exit.run_exits``); graph: replay
        # the next column before reading an exit's flag (``_ColumnGraphs.run``); inductor: unused
        self.lookahead = lookahead
        self.thr = effective_thresholds(thresholds, model.num_exits)
        self.staging = HostStaging()
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
            return run_exits(self.model, x, self.thr, self._steps, self.lookahead, self.staging)
        key = (tuple(x.shape), x.dtype)
        if key not in self._graphs:
            self._graphs[key] = _ColumnGraphs(self.model, x, self.thr)
        self._last = self._graphs[key]
        return self._last.run(x, self.lookahead)

    def update(self, trace: ExitTrace, count: int) -> None:
        """One SGD step of the first ``count`` early heads from ``trace`` (the last pass of this runner)."""
        spec, device = self.spec, trace.logits.device
        scale = learning_scale(trace.host_exits, count)
        if scale is not None:  # (2, count, B) in the model's dtype, through a pinned buffer
            scale = to_device(torch.from_numpy(scale).to(trace.probs[0].dtype), device, self.staging, ("scale", count))
        autograd = device.type != "cuda"  # head_gradients' default; only its autograd path reads the exits
        if self.mode != "graph":
            spec.update_heads(trace.pooled[:count], trace.normed[:count], trace.probs[:count],
                              trace.exits if autograd else None, scale, trace.logits, count, self._grads)
            return
        graphs = self._last
        key = (count, scale is None)
        if key not in graphs.updates:
            # static inputs the graph reads (the pass's own tensors are static already): the selected logits and
            # the scale (none at batch 1)
            inputs = (trace.logits.clone(), None if scale is None else scale.clone())
            step = partial(spec.update_heads, trace.pooled[:count], trace.normed[:count], trace.probs[:count],
                           None, inputs[1], inputs[0], count)
            graphs.updates[key] = (_capture(step, restore=early_head_parameters(self.model) + spec.buffers)[0], inputs)
        graph, (logits, static_scale) = graphs.updates[key]
        if static_scale is not None:
            static_scale.copy_(scale)
        logits.copy_(trace.logits)
        graph.replay()


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
