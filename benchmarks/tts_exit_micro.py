"""Host cost per call of each piece of an eager early exit at batch 1 (issue 18, TTS): the head's ops through the
functional API and through the bound aten ops, the non-blocking score copy into a caching-allocator pinned buffer
and into cudaHostRegister'ed memory, CUDA event record (with and without a cached stream), query and synchronize,
and the host reductions that decide. Host microseconds per call, median of 7 rounds of 2000 calls, with the kernel
launches and host syncs torch.profiler counts for one call; CUDA only.

    OMP_NUM_THREADS=1 python benchmarks/tts_exit_micro.py
"""
from __future__ import annotations

import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from gpu_counts import gpu_counts


def per_call_us(fn, n: int = 2000, rounds: int = 7) -> float:
    out = []
    for _ in range(rounds):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - t0) / n * 1e6)
        torch.cuda.synchronize()
    return round(statistics.median(out), 2)


def main() -> None:
    dev = torch.device("cuda")
    top = torch.rand(1, 768, 7, 7, device=dev)
    pooled = top.mean((2, 3))
    ln = torch.nn.LayerNorm(768, eps=1e-6).to(dev)
    lin = torch.nn.Linear(768, 1000).to(dev)
    logits = lin(ln(pooled))
    probs = logits.softmax(-1)
    pinned = torch.empty(1, 1000, pin_memory=True)
    registered = torch.empty(1, 1000)
    torch.cuda.cudart().cudaHostRegister(registered.data_ptr(), registered.numel() * 4, 0)
    ev = torch.cuda.Event()
    stream = torch.cuda.current_stream()
    ev.record(stream)
    pinned_np = pinned.numpy()
    y = torch.zeros(1, device=dev)
    shape, w, b, eps = ln.normalized_shape, ln.weight, ln.bias, ln.eps
    rows = {
        "add_ (one launch)": lambda: y.add_(1),
        "mean((2,3))": lambda: top.mean((2, 3)),
        "F.layer_norm": lambda: F.layer_norm(pooled, shape, w, b, eps),
        "torch.layer_norm": lambda: torch.layer_norm(pooled, shape, w, b, eps),
        "F.linear": lambda: F.linear(pooled, lin.weight, lin.bias),
        "torch.addmm": lambda: torch.addmm(lin.bias, pooled, lin.weight.t()),
        "softmax": lambda: logits.softmax(-1),
        "copy_ non_blocking -> torch pinned": lambda: pinned.copy_(probs, non_blocking=True),
        "copy_ non_blocking -> cudaHostRegister": lambda: registered.copy_(probs, non_blocking=True),
        "torch.cuda.current_stream()": lambda: torch.cuda.current_stream(),
        "event.record()": lambda: ev.record(),
        "event.record(cached stream)": lambda: ev.record(stream),
        "event.query()": lambda: ev.query(),
        "event.synchronize() (done)": lambda: ev.synchronize(),
        "host amax(-1).item()": lambda: pinned.amax(-1).item(),
        "host max().item()": lambda: pinned.max().item(),
        "numpy view .max()": lambda: pinned_np.max(),
        "float(numpy view .max())": lambda: float(pinned_np.max()),
        "device amax(-1) (launch)": lambda: probs.amax(-1),
    }
    for name, fn in rows.items():
        fn()
        counts = gpu_counts(fn, dev)  # one call: its kernel launches and host syncs
        print(json.dumps({"call": name, "host_us": per_call_us(fn), "kernel_launches": counts["kernel_launches"],
                          "host_syncs": counts["host_syncs"]}), flush=True)


if __name__ == "__main__":
    main()
