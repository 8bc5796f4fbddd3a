"""Adaptive inference with confidence-thresholded exits (TTS paper Sec. 3.2, after Leroux et al. 2015).

Columns run in order; after column ``i`` its head is evaluated and, when the largest softmax score
reaches the exit's threshold, that prediction is returned and the later columns are never computed.
The last exit always answers.

The pass keeps every tensor at the batch's shape (a sample that has left is never dropped by indexing), so no
shape depends on the data and each column can be captured or compiled once (:mod:`workloads.tts.compiled`).
The exit rule itself is one function (:func:`exit_rule`) applied in one of two places:
- on the host (eager and inductor, :func:`run_exits`): each early exit's softmax scores are copied there without
  blocking (pinned memory, a CUDA event marks their arrival); the host waits for them before the next column (or,
  with ``lookahead=1``, launches it meanwhile and gives it up half-way once it reads that every sample has left).
  Kernels launched one by one keep the host behind the GPU, so the scores have usually arrived when asked;
- on the device, inside each captured column (``compile: graph``, :func:`column_decision_step`): a replayed
  column finishes before the host can launch the next, so there the host would wait for the scores and then
  decide while the GPU idles; instead the column's graph applies the rule and the host reads one 0-d
  "anyone undecided?" flag per early exit.
Computing part of a column more than needed never changes a result: the decisions come from the scores alone. At
batch 1 the later columns are skipped as in the paper; at a larger batch they run on the whole batch until every
sample has left (the paper measures batch 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

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


def effective_thresholds(thresholds: Sequence[float] | torch.Tensor, num_exits: int) -> np.ndarray:
    """Per-exit thresholds as float64 values on the host, where the decisions are taken (the last entry is never
    read: the last exit answers for every sample still undecided)."""
    t = np.asarray(torch.as_tensor(thresholds, dtype=torch.float64).detach().cpu(), dtype=np.float64).flatten()
    if t.size != num_exits:
        raise ValueError(f"got {t.size} thresholds for a model with {num_exits} exits; give one per exit")
    return t


NUMPY_FLOATS = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def thresholds_as(thresholds: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    """The thresholds rounded to the scores' dtype (kept as float64): comparing a score with them on the host
    decides exactly as ``score >= threshold`` does on the device, which casts a 0-d float64 threshold to the
    scores' dtype."""
    if dtype in NUMPY_FLOATS:
        return thresholds.astype(NUMPY_FLOATS[dtype]).astype(np.float64)
    return torch.from_numpy(thresholds).to(dtype).to(torch.float64).numpy()  # bfloat16: numpy has none


def exit_head(head: nn.Module, top: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One exit's head (pool → LayerNorm → Linear, ``revcol.ExitHead``), returning (pooled, normed, logits):
    the update of Sec. 3.3 reuses the pooled features and the LayerNorm's output instead of recomputing them.
    The same functions as ``head(top)``, so the same logits."""
    norm, linear = head.classifier
    pooled = head.pool(top)
    normed = F.layer_norm(pooled, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    return pooled, normed, F.linear(normed, linear.weight, linear.bias)


def exit_rule(confidence, threshold, undecided, exits):
    """The exit rule of Sec. 3.2 at one early exit for a whole batch, on Python scalars (host decisions at batch 1),
    CPU tensors (host decisions at a larger batch), numpy arrays or device tensors (inside a captured column)
    alike: a sample still ``undecided`` whose ``confidence`` (its max-softmax) reaches ``threshold`` leaves here.
    ``exits`` counts the exits a sample passed undecided, so once it has left it holds its exit's index. Returns
    (fires, undecided, exits), new values: the inputs are left as they were (a captured column's inputs must stay
    valid for the next replay). ``threshold``: already rounded to the confidences'
    dtype (:func:`thresholds_as`), so host and device compare the same two numbers."""
    fires = (confidence >= threshold) & undecided
    undecided = undecided ^ fires  # fires lies inside undecided: this removes them
    return fires, undecided, exits + undecided


class HostStaging:
    """Pinned host buffers (with their numpy views) and CUDA events kept from call to call, one per use (``key``),
    so that a pass allocates none (non-blocking copies need pinned memory). Before a buffer the host writes is used
    again, its previous upload must have finished; it has in every normal flow (the host has since waited for a
    later event), so that check is one ``cudaEventQuery``."""

    def __init__(self):
        self.buffers: dict[object, tuple[torch.Tensor, np.ndarray]] = {}
        self.events: dict[object, torch.cuda.Event] = {}
        self.rounded: dict[tuple, list[float]] = {}
        self.mapped_pairs: dict[object, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def thresholds(self, thresholds: np.ndarray, dtype: torch.dtype) -> list[float]:
        """:func:`thresholds_as` as Python floats, made once per (thresholds, dtype) rather than once per pass."""
        key = (thresholds.tobytes(), dtype)
        out = self.rounded.get(key)
        if out is None:
            out = self.rounded[key] = thresholds_as(thresholds, dtype).tolist()
        return out

    def buffer(self, key, shape: torch.Size, dtype: torch.dtype, written_by_host: bool = False
               ) -> tuple[torch.Tensor, np.ndarray]:
        """The pinned buffer for ``key`` and its values as numpy. One the host writes (an upload) first waits for
        its previous copy; one the device writes needs no wait: the host reads it only after the event of the copy
        it wants."""
        event = self.events.get(key) if written_by_host else None
        if event is not None and not event.query():
            event.synchronize()
        entry = self.buffers.get(key)
        if entry is None or entry[0].shape != shape or entry[0].dtype != dtype:
            buf = torch.empty(shape, dtype=dtype, pin_memory=True)
            entry = self.buffers[key] = (buf, host_scores(buf))
        return entry

    def mapped(self, key, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(pinned host tensor, a CUDA tensor over the same memory) shaped as ``like``, kept for ``key``: a kernel
        writing the CUDA one writes host memory directly (zero-copy: with unified addressing a pinned host pointer
        is also a device pointer), so no copy has to be launched, only an event recorded after the kernel (on the
        H200 host a copy_ and its bookkeeping cost 1-4 % of a RevCol-T batch-1 pass). None where that cannot be
        had (bfloat16, which the CUDA array interface cannot name; memory the device does not map): then copy."""
        entry = self.mapped_pairs.get(key)
        if entry is None or entry[0].shape != like.shape or entry[0].dtype != like.dtype:
            entry = self.mapped_pairs[key] = mapped_pair(like)
        return entry if entry[1] is not None else None

    def record(self, key, stream: torch.cuda.Stream | None = None) -> torch.cuda.Event:
        """An event after the copy just queued for ``key`` on ``stream`` (default: the current stream; a pass
        passes the one it read once: looking it up costs ~4 us a time on the H200 host, recording ~1 us)."""
        event = self.events.get(key)
        if event is None:
            event = self.events[key] = torch.cuda.Event()
        event.record(stream)
        return event


ARRAY_TYPES = {torch.float16: "<f2", torch.float32: "<f4", torch.float64: "<f8"}


class _HostArray:
    """The CUDA array interface (v2) of a pinned host tensor, which ``torch.as_tensor`` turns into a CUDA tensor
    over the same memory."""

    def __init__(self, t: torch.Tensor):
        self.__cuda_array_interface__ = {"shape": tuple(t.shape), "typestr": ARRAY_TYPES[t.dtype],
                                         "data": (t.data_ptr(), False), "version": 2, "strides": None}


def mapped_pair(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(pinned host tensor shaped and typed as ``like``, the CUDA tensor on ``like``'s device over its memory or
    None when there is none: an unsupported dtype, or a view torch would only give as a copy)."""
    host = torch.empty(like.shape, dtype=like.dtype, pin_memory=True)
    if like.dtype not in ARRAY_TYPES or not host.is_contiguous():
        return host, None
    try:
        view = torch.as_tensor(_HostArray(host), device=like.device)
    except (RuntimeError, TypeError, ValueError):
        return host, None
    if view.data_ptr() != host.data_ptr() or view.device != like.device:
        return host, None
    return host, view


def host_scores(host: torch.Tensor) -> np.ndarray:
    """A host tensor's values as numpy: a view, except for bfloat16 (which numpy lacks), widened to float32 (exact)
    when read."""
    return host.float().numpy() if host.dtype == torch.bfloat16 else host.numpy()


def host_copy(probs: torch.Tensor, staging: HostStaging, key, stream: torch.cuda.Stream | None = None
              ) -> tuple[torch.Tensor, object | None]:
    """``probs`` on the host without blocking: (a host tensor with its values, CUDA event recorded after the copy
    on ``stream``, or None when the tensor is already there: then it is ``probs`` itself). On CUDA the tensor is a
    pinned buffer."""
    if probs.device.type == "cpu":
        return probs, None
    host, _ = staging.buffer(key, probs.shape, probs.dtype)
    host.copy_(probs, non_blocking=True)
    return host, staging.record(key, stream)


def copied_confidence(scores: torch.Tensor) -> float:
    """The largest score of one sample's copied (1, C) scores, by numpy on the pinned buffer's memory: ~0.6 us on
    the H200 host against ~4 us for torch's ``amax(-1).item()`` on a host tensor (exact either way: a maximum is
    one of the values). bfloat16, which numpy lacks, goes through :func:`host_confidences`."""
    if scores.dtype == torch.bfloat16:
        return host_confidences(scores).item()
    return float(scores.numpy().max())


def host_confidences(scores: torch.Tensor) -> torch.Tensor:
    """Each sample's largest score (B,), from a host tensor, by torch rather than numpy: on the dev CPU every numpy
    reduction run between a pass's kernels slowed the torch operators after it (~40-50 us per numpy call, against
    ~1 us alone). bfloat16 is widened to float32 (exact)."""
    conf = scores.amax(dim=-1)
    return conf.float() if conf.dtype == torch.bfloat16 else conf


def to_device(host: np.ndarray | torch.Tensor, device: torch.device, staging: HostStaging, key) -> torch.Tensor:
    """A host array or tensor on ``device`` without blocking the host (through a pinned buffer on CUDA)."""
    t = torch.from_numpy(host) if isinstance(host, np.ndarray) else host
    if device.type != "cuda":
        return t
    buf, _ = staging.buffer(key, t.shape, t.dtype, written_by_host=True)
    buf.copy_(t)
    out = buf.to(device, non_blocking=True)
    staging.record(key)
    return out


class HostDecisions:
    """:func:`exit_rule` for a batch, applied on the host as each early exit's softmax scores arrive.

    ``exits[b]`` counts the exits sample ``b`` passed undecided, so once it has left it holds its exit's index;
    ``undecided[b]`` is True while no exit of ``b`` has fired; ``done`` once none is. Exits are read in order;
    ``poll`` reads those whose copy has arrived and never waits unless told to. ``poll`` is asked before every
    column (and, with lookahead, every level), so each call must cost next to nothing: at batch 1 (the paper's
    setting) the state is a Python bool and int and the rule compares Python floats (:func:`exit_rule` takes them
    as it takes arrays); at a larger batch, CPU tensors updated by the same rule. On a CPU the pass runs no numpy
    operation until :meth:`host_exits` (see :func:`host_confidences` for why); a batch-1 score copied from CUDA is
    read by numpy (:func:`copied_confidence`, the cheaper of the two there). ``stream``: the one the copies'
    events are recorded on (the pass's current stream)."""

    def __init__(self, batch: int, thresholds: np.ndarray, staging: HostStaging,
                 stream: torch.cuda.Stream | None = None):
        self.thresholds, self.staging, self.stream = thresholds, staging, stream
        self.single = batch == 1
        self.undecided = True if self.single else torch.ones(batch, dtype=torch.bool)
        self.exits = 0 if self.single else torch.zeros(batch, dtype=torch.int64)
        self.done = False
        self.pending: list[tuple[int, torch.Tensor, object | None]] = []
        self.posted = 0
        self._thr: list[float] | None = None

    def post(self, i: int, probs: torch.Tensor, host: torch.Tensor | None = None) -> None:
        """Exit ``i``'s softmax scores (B, C), copied to the host without waiting for them; ``host``: the pinned
        tensor the softmax kernel wrote them into itself (zero-copy, ``HostStaging.mapped``), so only an event
        after that kernel is recorded."""
        if self._thr is None:
            # Python floats, already the scores' dtype's values: a tensor compares with them exactly in that dtype
            self._thr = self.staging.thresholds(self.thresholds, probs.dtype)
        if host is not None:
            scores, event = host, self.staging.record(("probs", i), self.stream)
        else:
            scores, event = host_copy(probs, self.staging, ("scores", i), self.stream)
        self.pending.append((i, scores, event))
        self.posted = i + 1

    def poll(self, wait_upto: int = -1) -> bool:
        """Read every posted exit whose scores have arrived, waiting for those up to exit ``wait_upto``; True once
        every sample has left (nothing more needs to run)."""
        pending = self.pending
        while pending and not self.done:
            i, scores, event = pending[0]
            if event is not None and not event.query():
                if i > wait_upto:
                    return False
                event.synchronize()
            del pending[0]
            if self.single:
                conf = copied_confidence(scores) if event is not None else host_confidences(scores).item()
                _, self.undecided, self.exits = exit_rule(conf, self._thr[i], self.undecided, self.exits)
                self.done = not self.undecided
            else:
                conf = host_confidences(scores)
                _, self.undecided, self.exits = exit_rule(conf, self._thr[i], self.undecided, self.exits)
                self.done = not self.undecided.any().item()
        return self.done

    def finish(self) -> bool:
        """Read what is still needed (waiting for it); True when every sample left at an early exit."""
        return self.poll(wait_upto=self.posted)

    def host_exits(self) -> tuple[np.ndarray, int]:
        """(each sample's exit as an int64 array, 1 + the deepest of them), once every exit is read."""
        if self.single:
            return np.array([self.exits], dtype=np.int64), 1 + self.exits
        return self.exits.numpy(), 1 + int(self.exits.max().item())


@dataclass
class ExitTrace:
    """Outcome of one adaptive pass over a batch of B samples.

    logits: (B, C) logits of each sample's selected exit; ``decided``: each sample's selected exit as the pass
    decided it: a numpy array when decided on the host (eager, inductor), a tensor on the model's device when
    decided inside the captured columns (graph); ``exits`` / ``host_exits`` give them on the device / the host,
    copied on first use (batch 1 on the host needs no copy: the pass stopped at the one sample's exit). For every
    column up to the deepest selected exit: head_logits[j] / pooled[j] / normed[j]: logits of exit ``j``, the
    pooled features it read and its LayerNorm's output, and probs[j] the softmax of head_logits[j] (early exits
    only), for the whole batch (rows of samples that left before ``j`` are computed but unused); columns_run:
    1 + the largest selected exit (the columns whose results count; a column given up half-way is not one).
    An eager CUDA pass writes ``probs`` into its staging's pinned host memory (:func:`run_exits`): a runner's trace
    is then read before its next pass, as a graph trace is."""

    logits: torch.Tensor
    decided: np.ndarray | torch.Tensor
    head_logits: list[torch.Tensor] = field(default_factory=list)
    pooled: list[torch.Tensor] = field(default_factory=list)
    normed: list[torch.Tensor] = field(default_factory=list)
    probs: list[torch.Tensor] = field(default_factory=list)
    columns_run: int = 0
    staging: HostStaging | None = None
    _exits: torch.Tensor | None = None
    _host_exits: np.ndarray | None = None

    @property
    def exits(self) -> torch.Tensor:
        if isinstance(self.decided, torch.Tensor):
            return self.decided
        if self._exits is None:
            self._exits = to_device(self.decided, self.logits.device, self.staging or HostStaging(), "exits")
        return self._exits

    @property
    def host_exits(self) -> np.ndarray:
        if isinstance(self.decided, np.ndarray):
            return self.decided
        if self._host_exits is None:
            if self.decided.shape[0] == 1:  # the pass stopped at the one sample's exit: no read
                self._host_exits = np.full(1, self.columns_run - 1, dtype=np.int64)
            else:  # one blocking read, at the first use (a graph trace's tensors: before the next pass)
                self._host_exits = self.decided.cpu().numpy()
        return self._host_exits


def column_exit_step(model: nn.Module, i: int, inputs: torch.Tensor, feats: list[torch.Tensor] | None,
                     stop=None, probs_into: Callable[[int, torch.Tensor], torch.Tensor | None] | None = None
                     ) -> tuple | None:
    """Column ``i`` and its exit for the whole batch: the unit that is captured or compiled once per column.

    ``inputs`` is the image batch for column 0 (it goes through the stem here) and the stem output for the
    later columns. Returns (stem, feats, pooled, normed, logits, probs) with probs the softmax the exit rule
    reads (``None`` at the last exit, which answers whatever its confidence); ``None`` when ``stop`` gave the
    column up (``reversible.column_forward``). ``probs_into(i, logits)``: a tensor for the softmax to be written
    into (the same kernel, so the same values), or None."""
    stem = model.embed(inputs) if i == 0 else inputs
    feats = model.column(i)(stem, feats, stop=stop)
    if feats is None:
        return None
    pooled, normed, logits = exit_head(model.cls_blocks[i], feats[-1])
    probs = None
    if i < model.num_exits - 1:
        into = probs_into(i, logits) if probs_into is not None else None
        probs = logits.softmax(dim=-1) if into is None else torch.softmax(logits, -1, out=into)
    return stem, feats, pooled, normed, logits, probs


def initial_exit_state(x: torch.Tensor, num_classes: int, dtype: torch.dtype
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(out_logits, exits, undecided) on ``x``'s device before the first column: nothing decided yet."""
    b = x.shape[0]
    return (torch.zeros(b, num_classes, dtype=dtype, device=x.device),
            torch.zeros(b, dtype=torch.int64, device=x.device),
            torch.ones(b, dtype=torch.bool, device=x.device))


class DecidedColumn(NamedTuple):
    """What :func:`column_decision_step` returns: :func:`column_exit_step`'s six values, then the exit state after
    this column and ``any_undecided``, a 0-d bool tensor: the one value the host reads (``None`` at the last exit)."""

    stem: torch.Tensor
    feats: list[torch.Tensor]
    pooled: torch.Tensor
    normed: torch.Tensor
    logits: torch.Tensor
    probs: torch.Tensor | None
    out_logits: torch.Tensor
    exits: torch.Tensor
    undecided: torch.Tensor
    any_undecided: torch.Tensor | None


def column_decision_step(model: nn.Module, i: int, threshold: float, inputs: torch.Tensor,
                         feats: list[torch.Tensor] | None, out_logits: torch.Tensor, exits: torch.Tensor,
                         undecided: torch.Tensor) -> DecidedColumn:
    """:func:`column_exit_step` followed by :func:`exit_rule` on the device: the unit a CUDA graph captures once per
    column (``compile: graph``), so the host reads one flag per exit instead of the scores.

    ``threshold``: exit ``i``'s, rounded by :func:`thresholds_as` (a Python float: the graph keeps it as a kernel
    argument, no tensor to keep alive); (out_logits, exits, undecided) the state after column ``i - 1``
    (:func:`initial_exit_state` before column 0). A sample that leaves here gets this exit's logits by
    ``torch.where`` (the same values the host path's ``selected_logits`` picks). At the last exit every sample
    still undecided takes it; exits and undecided are passed on unchanged (nothing reads them after)."""
    out = column_exit_step(model, i, inputs, feats)
    logits, probs = out[4], out[5]
    if probs is None:
        fires, left = undecided, None
    else:
        fires, undecided, exits = exit_rule(probs.amax(dim=-1), threshold, undecided, exits)
        left = undecided.any()
    return DecidedColumn(*out, torch.where(fires[:, None], logits, out_logits), exits, undecided, left)


def selected_logits(head_logits: Sequence[torch.Tensor], host_exits: np.ndarray, exits: Callable[[], torch.Tensor]
                    ) -> torch.Tensor:
    """(B, C) logits of each sample's selected exit: one exit's logits as they are when every sample took the same
    (always at batch 1), else one gather from the stacked exits."""
    first = int(host_exits[0])
    if host_exits.shape[0] == 1 or (host_exits == first).all():
        return head_logits[first]
    stacked = torch.stack(list(head_logits))  # (N, B, C)
    index = exits().view(1, -1, 1).expand(1, *stacked.shape[1:])
    return stacked.gather(0, index)[0]


@torch.no_grad()
def adaptive_forward(model: nn.Module, x: torch.Tensor, thresholds: Sequence[float] | torch.Tensor) -> ExitTrace:
    """Run ``model`` (an :class:`~workloads.tts.revcol.EarlyExitRevCol`) column by column until every sample's
    exit has fired (eager; :class:`workloads.tts.compiled.ExitRunner` runs the same steps captured or compiled).

    Without gradients: test-time specialization recomputes the early heads' gradients from ``trace.pooled``,
    ``trace.normed`` and ``trace.probs`` instead of keeping a graph through the pass."""
    return run_exits(model, x, effective_thresholds(thresholds, model.num_exits))


@torch.no_grad()
def run_exits(model: nn.Module, x: torch.Tensor, thr: np.ndarray, steps: Sequence | None = None,
              lookahead: int = 0, staging: HostStaging | None = None) -> ExitTrace:
    """``adaptive_forward`` with thresholds already made by ``effective_thresholds``; ``steps[i]`` replaces
    ``column_exit_step`` for column ``i`` (a compiled version of it, called without the model and index).

    ``lookahead``: how many columns may be launched past an exit whose scores have not reached the host yet.
    0 (default; inductor's compiled steps, which cannot stop half-way, need it): wait for exit ``i``'s scores before
    column ``i + 1``, so at most one blocking wait per early exit, and none when the copy has already arrived (at batch
    1 on an H200 it has: the profiler counts 0 syncs). 1 (eager only): launch column ``i + 1`` while they travel
    and ask about them before each of its levels, so the device never waits for the host; column ``i + 2`` waits
    for exit ``i``. Measured on the H200 (docs/performance/tts.md) 1 was no faster on the last-exit path at
    batch 1 (the paper's setting) and faster at batch 32 (1.015 against 1.061 of the plain model), and part of
    column 1 is launched for nothing when exit 0 fires, hence the default (the TTS config's ``lookahead``). On a CPU the scores
    are on the host at once: both give the same columns, and both give the same results everywhere.
    ``staging``: the pinned buffers to reuse (a runner keeps one; default: new ones). On CUDA without ``steps``
    each early exit's softmax is written straight into pinned host memory (``HostStaging.mapped``): the trace's
    ``probs`` are then those buffers, valid until the next pass with this ``staging`` (as a graph trace's static
    tensors are until the next replay)."""
    n = model.num_exits
    staging = HostStaging() if staging is None else staging
    mapped: dict[int, torch.Tensor] = {}

    def probs_into(i: int, logits: torch.Tensor) -> torch.Tensor | None:
        if torch.is_autocast_enabled(logits.device.type):  # autocast's softmax is not in the logits' dtype
            return None
        pair = staging.mapped(("probs", i), logits)
        if pair is None:
            return None
        mapped[i] = pair[0]
        return pair[1]

    stream = torch.cuda.current_stream(x.device) if x.is_cuda else None  # read once: every copy's event is on it
    decisions = HostDecisions(x.shape[0], thr, staging, stream)
    stop = decisions.poll if lookahead > 0 else None
    trace_parts: list[tuple] = []
    inputs, feats = x, None
    for i in range(n):
        if i and decisions.poll(wait_upto=i - 1 - lookahead):
            break
        out = (steps[i](inputs, feats) if steps is not None else
               column_exit_step(model, i, inputs, feats, stop, probs_into if x.is_cuda else None))
        if out is None:  # given up half-way: every sample had left
            break
        inputs, feats, pooled, normed, logits, probs = out
        trace_parts.append((logits, pooled, normed, probs))
        if probs is not None:
            decisions.post(i, probs, mapped.get(i))
    decisions.finish()
    exits, columns_run = decisions.host_exits()
    head_logits, pooled, normed, probs = (list(p) for p in zip(*trace_parts[:columns_run]))
    trace = ExitTrace(logits=head_logits[0], decided=exits, head_logits=head_logits, pooled=pooled,
                      normed=normed, probs=[p for p in probs if p is not None], columns_run=columns_run,
                      staging=staging)
    trace.logits = selected_logits(head_logits, exits, lambda: trace.exits)
    return trace
