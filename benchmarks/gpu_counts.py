"""Kernel launches and host syncs of one call, counted with torch.profiler: printed by every benchmark next to its
times (issue 18.5), because on a launch-bound GPU those counts, not FLOPs, explain a ratio.

Counted from the CUDA runtime / driver API events the profiler records on the host:

- ``kernel_launches``: ``cudaLaunchKernel`` and its variants (``cuLaunchKernel*``, ``cudaLaunchKernelExC``);
- ``graph_launches``: ``cudaGraphLaunch`` (one replays a whole captured graph);
- ``host_syncs``: calls that block the host until the GPU catches up: ``cudaStreamSynchronize``,
  ``cudaEventSynchronize``, ``cudaDeviceSynchronize`` issued inside the call, and synchronous ``cudaMemcpy``
  (``.item()``, ``.cpu()``, ``bool(tensor)`` and ``nonzero`` end in one of these);
- ``item_calls`` / ``nonzero_calls``: ``aten::item`` / ``aten::nonzero`` ops, the usual sources of those syncs
  (``item_calls`` also counts ``.item()`` on CPU tensors, which never syncs: AdamW's per-parameter step counters
  are 288 of them in a GPT-2 L step; ``host_syncs`` is the figure to read).

On the CPU there is nothing to count: every field is "n/a (CPU)".
"""
from __future__ import annotations

import collections
from typing import Callable

LAUNCH_EVENTS = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
SYNC_EVENTS = ("cudaStreamSynchronize", "cudaEventSynchronize", "cudaDeviceSynchronize", "cudaMemcpy",
               "cuStreamSynchronize", "cuEventSynchronize", "cuCtxSynchronize")
FIELDS = ("kernel_launches", "graph_launches", "host_syncs", "item_calls", "nonzero_calls")
NOT_ON_CPU = "n/a (CPU)"


def count_events(names: collections.Counter) -> dict[str, int]:
    """The counts of FIELDS from a Counter of profiler event names."""
    return {"kernel_launches": sum(names[n] for n in LAUNCH_EVENTS),
            "graph_launches": names["cudaGraphLaunch"],
            "host_syncs": sum(names[n] for n in SYNC_EVENTS),
            "item_calls": names["aten::item"],
            "nonzero_calls": names["aten::nonzero"]}


def gpu_counts(fn: Callable[[], object], device) -> dict[str, int | str]:
    """Counts for one ``fn()`` on ``device`` (a str or torch.device); the GPU is idle before and after."""
    import torch

    if torch.device(device).type != "cuda":
        return {"kernel_launches": NOT_ON_CPU, "host_syncs": NOT_ON_CPU}
    from torch.profiler import ProfilerActivity, profile

    def profiled(call) -> dict[str, int]:
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            call()
        torch.cuda.synchronize()  # after the profile: the benchmark's own wait is not one of the call's syncs
        return count_events(collections.Counter(e.name for e in prof.events()))

    # The profiler's own stop synchronises the device inside its window (one cudaDeviceSynchronize, seen on the
    # H200 as "1 host sync" for calls that have none): an empty call's counts are taken off.
    base = profiled(lambda: None)
    return {k: max(0, v - base[k]) for k, v in profiled(fn).items()}


def prefixed(prefix: str, counts: dict) -> dict:
    """``{"<prefix>_kernel_launches": ..., ...}`` for flat JSON lines."""
    return {f"{prefix}_{k}": v for k, v in counts.items()}
