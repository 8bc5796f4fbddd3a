"""Test-only workloads for trial resources: CPU threads seen by a trial, GPU memory held by a trial."""
from __future__ import annotations

import os
from dataclasses import dataclass

from orchestrator.context import Context
from orchestrator.registry import register


@dataclass
class ThreadsConfig:
    x: float = 0.0           # grid axis (trials differ only by it)
    leave_threads: int = 2   # torch threads this trial leaves set when it ends (a reused actor inherits them)


@register("toy_threads", config=ThreadsConfig,
          metrics=("torch_threads", "omp_threads", "mkl_threads", "worker_pid"))
def threads(cfg: ThreadsConfig, ctx: Context) -> None:
    import torch

    ctx.summary(torch_threads=float(torch.get_num_threads()), omp_threads=float(os.environ.get("OMP_NUM_THREADS", -1)),
                mkl_threads=float(os.environ.get("MKL_NUM_THREADS", -1)), worker_pid=float(os.getpid()))
    torch.set_num_threads(cfg.leave_threads)


@dataclass
class CudaMemoryConfig:
    mib: int = 64      # MiB allocated (and kept) at every step
    steps: int = 5     # streamed reports


@register("toy_cuda_memory", config=CudaMemoryConfig, metrics=("held_mib",))
def cuda_memory(cfg: CudaMemoryConfig, ctx: Context) -> None:
    import torch

    held = []
    for step in range(cfg.steps):
        held.append(torch.empty(cfg.mib * 2**20, dtype=torch.uint8, device=ctx.device))
        ctx.report(step=step, held_mib=float(cfg.mib * len(held)))
    ctx.summary(held_mib=float(cfg.mib * len(held)))
