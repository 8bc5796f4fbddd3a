"""CPU threads of a trial: torch, OpenMP and MKL use exactly the CPUs the trial was given.

Ray only sets ``OMP_NUM_THREADS`` for a worker when the driver's environment leaves it unset, and only when the
worker process starts. So a driver started with ``OMP_NUM_THREADS=16`` gives every 1-CPU trial 16 threads (8
concurrent trials on 16 cores then run 128 threads), and a reused actor (``reuse_actors=True``) keeps whatever
thread count the previous trial left. The trainable therefore sets the count itself at the start of every trial.
"""
from __future__ import annotations

import math
import os

# Read by OpenMP / MKL / OpenBLAS when their runtime starts in this process or in a child (DataLoader workers,
# faiss, subprocesses); torch's own pool is set directly below.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_for(cpus: float | None) -> int:
    """Threads for a trial holding ``cpus`` CPUs: the whole CPUs it holds, at least one (Ray's own rule)."""
    if cpus is None or cpus <= 0:
        return 1
    return max(1, math.floor(cpus))


def limit_threads(cpus: float | None) -> int:
    """Set torch's intra-op threads and the OpenMP/MKL/OpenBLAS variables to ``threads_for(cpus)``; returns it.

    Called before the trial builds anything. Inter-op threads are left alone: torch allows setting them only once
    per process, before any parallel work, which a reused actor has already done."""
    import torch

    n = threads_for(cpus)
    for name in THREAD_ENV_VARS:
        os.environ[name] = str(n)
    torch.set_num_threads(n)
    return n


def assigned_cpus() -> float | None:
    """CPUs Ray assigned to the current task or actor (None outside a Ray worker)."""
    import ray

    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_assigned_resources().get("CPU")
