"""Where the eager last-exit path's extra time over the plain RevCol goes (issue 18, TTS batch 1): the same pass
built up step by step and timed side by side, interleaved within each iteration so a noisy host slows all alike.

Variants (eager, no exit fires):
- ``plain``: ``model(x)`` (all columns, last head);
- ``columns``: the column loop of ``run_exits`` without the early heads (should equal plain);
- ``heads``: + every early head and its softmax on the device (no copy, no decision);
- ``heads_copy``: + each softmax copied to pinned host memory with an event (read once, at the end);
- ``last_exit``: ``run_exits`` as it is (copy, wait, decide on the host after every early exit);
  ``last_exit_lookahead1``: the same launching the next column while the scores travel;
- ``fast_sync`` / ``fast_query``: a prototype batch-1 loop with all per-exit host state made once (CUDA only);
  ``decisions_no_tail`` / ``decisions_tail``: ``run_exits``' loop written out, without / with its trace at the
  end, and ``last_exit_again``: ``run_exits`` timed last (what the order within an iteration costs);
- ``heads_record`` / ``heads_copy_`` / ``heads_mapped`` / ``heads_mapped_fast``: see ``HeadsVariant``.
Then for each the host-only time (Python and launches, measured up to the call's return, before the final
synchronize) and torch.profiler's kernel launches / host syncs, and a cProfile of ``plain`` vs ``last_exit``
(the functions whose own time differs most). Launch cost of this host: 600 ``add_`` launches.

    OMP_NUM_THREADS=1 python benchmarks/tts_exit_breakdown.py [--arch revcol_tiny] [--iters 60]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import time

import torch

from gpu_counts import gpu_counts
from workloads.tts.early_exit import (NEVER, ExitTrace, HostDecisions, HostStaging, column_exit_step,
                                      effective_thresholds, exit_head, host_copy, run_exits, selected_logits)
from workloads.tts.revcol import build_revcol

IMAGE = {"revcol_tiny": (3, 224, 224, 1000), "revcol_micro": (3, 32, 32, 10)}


def column_loop(model, x, heads: bool, copy: bool, staging: HostStaging):
    """The exit pass's loop with parts switched off (for timing only: no decision is taken)."""
    n = model.num_exits
    inputs, feats, events = x, None, []
    for i in range(n):
        if heads or i == n - 1:
            inputs, feats, pooled, normed, logits, probs = column_exit_step(model, i, inputs, feats)
            if copy and probs is not None:
                events.append(host_copy(probs, staging, ("scores", i))[1])
        else:
            stem = model.embed(inputs) if i == 0 else inputs
            inputs, feats = stem, model.column(i)(stem, feats)
    for e in events:
        if e is not None:
            e.synchronize()
    return feats


class FastBatch1:
    """Prototype: the batch-1 exit loop with its per-exit host state made once (pinned buffer, numpy view, event,
    the stream, the thresholds as floats): copy, record, then before the next column one event synchronize (done
    by then) and a numpy max."""

    def __init__(self, model, thr, query: bool):
        n = model.num_exits
        self.bufs = [torch.empty(1, model.num_classes, pin_memory=True) for _ in range(n - 1)]
        self.views = [b.numpy() for b in self.bufs]
        self.events = [torch.cuda.Event() for _ in range(n - 1)]
        self.stream = torch.cuda.current_stream()
        self.thr = [float(t) for t in thr]
        self.query = query

    def __call__(self, model, x):
        n = model.num_exits
        inputs, feats, parts = x, None, []
        for i in range(n):
            if i:
                ev = self.events[i - 1]
                if not self.query or not ev.query():
                    ev.synchronize()
                if float(self.views[i - 1].max()) >= self.thr[i - 1]:
                    break
            inputs, feats, pooled, normed, logits, probs = column_exit_step(model, i, inputs, feats)
            parts.append((logits, pooled, normed, probs))
            if probs is not None:
                self.bufs[i].copy_(probs, non_blocking=True)
                self.events[i].record(self.stream)
        return parts


class _DeviceView:
    """``__cuda_array_interface__`` of a pinned host tensor: with unified addressing its host pointer is a device
    pointer, so a kernel can write there directly (zero-copy)."""

    def __init__(self, t: torch.Tensor):
        self.__cuda_array_interface__ = {"shape": tuple(t.shape), "typestr": "<f4", "data": (t.data_ptr(), False),
                                         "version": 2, "strides": None}


class HeadsVariant:
    """The column loop with every head, and after each early head: ``record`` = an event only; ``copy`` = a
    cached pinned buffer's ``copy_`` plus the event; ``mapped`` = the softmax written straight into pinned host
    memory (zero-copy) plus the event; ``mapped_fast`` = ``mapped`` and the batch-1 decisions of ``FastBatch1``."""

    def __init__(self, model, thr, kind: str):
        n = model.num_exits
        self.kind, self.thr = kind, [float(t) for t in thr]
        self.bufs = [torch.empty(1, model.num_classes, pin_memory=True) for _ in range(n - 1)]
        self.views = [b.numpy() for b in self.bufs]
        self.dev = [torch.as_tensor(_DeviceView(b), device="cuda") for b in self.bufs]
        self.events = [torch.cuda.Event() for _ in range(n - 1)]
        self.stream = torch.cuda.current_stream()

    def __call__(self, model, x):
        n, kind = model.num_exits, self.kind
        inputs, feats = x, None
        for i in range(n):
            if i and kind == "mapped_fast":
                ev = self.events[i - 1]
                if not ev.query():
                    ev.synchronize()
                if float(self.views[i - 1].max()) >= self.thr[i - 1]:
                    break
            stem = model.embed(inputs) if i == 0 else inputs
            feats = model.column(i)(stem, feats)
            pooled, normed, logits = exit_head(model.cls_blocks[i], feats[-1])
            inputs = stem
            if i == n - 1:
                break
            if kind in ("mapped", "mapped_fast"):
                torch.softmax(logits, -1, out=self.dev[i])
            else:
                probs = logits.softmax(dim=-1)
                if kind == "copy":
                    self.bufs[i].copy_(probs, non_blocking=True)
            self.events[i].record(self.stream)
        for e in self.events:
            e.synchronize()
        return logits


def decisions_loop(model, x, thr, staging: HostStaging, tail: bool):
    """``run_exits``' loop with its ``HostDecisions`` (post, poll, finish) and, with ``tail``, its trace."""
    n = model.num_exits
    stream = torch.cuda.current_stream(x.device) if x.is_cuda else None
    decisions = HostDecisions(x.shape[0], thr, staging, stream)
    inputs, feats, parts = x, None, []
    for i in range(n):
        if i and decisions.poll(wait_upto=i - 1):
            break
        inputs, feats, pooled, normed, logits, probs = column_exit_step(model, i, inputs, feats)
        parts.append((logits, pooled, normed, probs))
        if probs is not None:
            decisions.post(i, probs)
    decisions.finish()
    if not tail:
        return parts
    exits, columns_run = decisions.host_exits()
    head_logits, pooled, normed, probs = (list(p) for p in zip(*parts[:columns_run]))
    trace = ExitTrace(logits=head_logits[0], decided=exits, head_logits=head_logits, pooled=pooled, normed=normed,
                      probs=[p for p in probs if p is not None], columns_run=columns_run, staging=staging)
    trace.logits = selected_logits(head_logits, exits, lambda: trace.exits)
    return trace


def timed(fns: dict, device, iters: int, warmup: int = 10) -> tuple[dict, dict]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    wall = {k: [] for k in fns}
    host = {k: [] for k in fns}
    for it in range(warmup + iters):
        for k, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            sync()
            t2 = time.perf_counter()
            if it >= warmup:
                host[k].append((t1 - t0) * 1e3)
                wall[k].append((t2 - t0) * 1e3)
    return wall, host


def profile_top(fn, calls: int, top: int) -> dict[str, float]:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    stats = pstats.Stats(prof).stats
    out = {}
    for (file, line, name), (cc, nc, tt, ct, callers) in stats.items():
        out[f"{file.split('/')[-1]}:{line}:{name}"] = (tt * 1e3 / calls, nc / calls)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="revcol_tiny")
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--batch", type=int, default=1)
    a = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    c, h, w, classes = IMAGE[a.arch]
    torch.manual_seed(0)
    model = build_revcol(a.arch, classes).to(device).eval()
    x = torch.rand(a.batch, c, h, w, device=device)
    thr = effective_thresholds(torch.full((model.num_exits,), NEVER), model.num_exits)
    staging = HostStaging()
    with torch.no_grad():
        fns = {"plain": lambda: model(x),
               "columns": lambda: column_loop(model, x, False, False, staging),
               "heads": lambda: column_loop(model, x, True, False, staging),
               "heads_copy": lambda: column_loop(model, x, True, True, staging),
               "last_exit": lambda: run_exits(model, x, thr, staging=staging),
               "last_exit_lookahead1": lambda: run_exits(model, x, thr, lookahead=1, staging=staging)}
        if device.type == "cuda" and a.batch == 1:
            fast, fastq = FastBatch1(model, thr, False), FastBatch1(model, thr, True)
            fns.update({"fast_sync": lambda: fast(model, x), "fast_query": lambda: fastq(model, x),
                        "decisions_no_tail": lambda: decisions_loop(model, x, thr, staging, False),
                        "decisions_tail": lambda: decisions_loop(model, x, thr, staging, True),
                        "last_exit_again": lambda: run_exits(model, x, thr, staging=staging)})
            variants = {k: HeadsVariant(model, thr, k) for k in ("record", "copy", "mapped", "mapped_fast")}
            fns.update({f"heads_{k}": (lambda v: lambda: v(model, x))(v) for k, v in variants.items()})
            check = variants["mapped"]
            check(model, x)
            probs = [z.softmax(-1) for z in model.forward_exits(x)[:-1]]
            print(json.dumps({"mapped_softmax_equals_device_softmax":
                              all(torch.equal(torch.from_numpy(v), p.cpu()) for v, p in zip(check.views, probs))}))
        for fn in fns.values():
            fn(), fn()
        wall, host = timed(fns, device, a.iters)
        base_w = wall["plain"]
        rows = {}
        for k in fns:
            rows[k] = {"wall_ms": round(statistics.median(wall[k]), 3), "host_ms": round(statistics.median(host[k]), 3),
                       "ratio_to_plain": round(statistics.median([u / v for u, v in zip(wall[k], base_w)]), 4),
                       **gpu_counts(fns[k], device)}
            print(json.dumps({"variant": k, **rows[k]}), flush=True)
        if device.type == "cuda":
            y = torch.zeros(1, device=device)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(600):
                y.add_(1)
            t1 = time.perf_counter()
            torch.cuda.synchronize()
            print(json.dumps({"launch_us_add": round((t1 - t0) / 600 * 1e6, 2)}), flush=True)
        prof_plain = profile_top(fns["plain"], 20, 30)
        prof_exit = profile_top(fns["last_exit"], 20, 30)
    keys = set(prof_plain) | set(prof_exit)
    diff = sorted(((prof_exit.get(k, (0, 0))[0] - prof_plain.get(k, (0, 0))[0], k) for k in keys), reverse=True)
    print("cProfile own time per call, last_exit - plain (ms), calls per pass (exit / plain):")
    for d, k in diff[:30]:
        print(f"  {d:+.3f}  {k}  calls {prof_exit.get(k, (0, 0))[1]:.0f} / {prof_plain.get(k, (0, 0))[1]:.0f}")
    tot = lambda pr: sum(v[0] for v in pr.values())
    print(f"cProfile total own time per call: plain {tot(prof_plain):.2f} ms, last_exit {tot(prof_exit):.2f} ms")


if __name__ == "__main__":
    main()
