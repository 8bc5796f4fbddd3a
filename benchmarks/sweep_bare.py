"""A sweep's trials in N plain processes (no Ray, Tune or MLflow), and the host's CPU layout.

Used by ``benchmarks/sweep_local.py`` (``--runs bare=N`` / ``bare=N,pin``) so that the host's own slow-down when N
trials run at once sits beside the orchestrator's figures in one run: if plain processes slow down as much as Tune
trials do, the host (shared cores, memory bandwidth, a CPU quota) is the limit, not the orchestrator. A bare process
imports torch before its first trial's clock starts (a Ray trial imports it inside its first trial), so its first
trial holds only the workload's own imports and first-call set-up.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any


def physical_cores() -> dict[tuple[str, str], list[int]]:
    """This process's logical CPUs grouped by (socket, core): more than one per core means SMT siblings."""
    cores: dict[tuple[str, str], list[int]] = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            key = (topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()
        except OSError:
            key = ("?", str(cpu))
        cores.setdefault(key, []).append(cpu)
    return cores


def host_layout() -> dict[str, Any]:
    """Logical CPUs, physical cores, SMT, the CPU model and the cgroup's CPU quota (what ``lscpu`` would say)."""
    cores = physical_cores()
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    quota = next((Path(f).read_text().strip() for f in ("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
                  if Path(f).is_file()), "")
    return {"logical_cpus": sum(len(v) for v in cores.values()), "physical_cores": len(cores),
            "threads_per_core": max((len(v) for v in cores.values()), default=0),
            "sockets": len({k[0] for k in cores}), "model": model, "cgroup_cpu_max": quota,
            "smt_siblings": [v for v in cores.values() if len(v) > 1][:4], "load_avg": os.getloadavg()}


def distinct_core_cpus() -> list[int]:
    """This process's CPUs ordered so the first ones sit on distinct physical cores (SMT siblings last)."""
    by_core = list(physical_cores().values())
    rounds = max((len(v) for v in by_core), default=0)
    return [cpus[i] for i in range(rounds) for cpus in by_core if i < len(cpus)]


def _worker(workload: str, scale: str, trials: list[tuple[dict, int]], todo, done, cache: str, work: str,
            threads: int, cpu: int | None, device: str) -> None:
    # Same as a Tune trial's set-up (orchestrator.trial_threads), minus Ray: threads first, then the trial.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import torch

    torch.set_num_threads(threads)
    from orchestrator.context import LocalContext
    from orchestrator.registry import build_config, get_workload

    wl = get_workload(workload)
    first = True
    while True:
        i = todo.get()
        if i is None:
            return
        params, seed = trials[i]
        start, cpu0 = time.time(), time.thread_time()
        ctx = LocalContext(seed=seed, scale=scale, work_dir=Path(work) / f"trial{i}", cache_dir=cache, device=device)
        wl.fn(build_config(wl, params), ctx)
        done.put({"trial": i, "pid": os.getpid(), "start": start, "end": time.time(), "wall_s": time.time() - start,
                  "thread_cpu_s": time.thread_time() - cpu0, "first_in_process": first})
        first = False


def run_bare(workload: str, scale: str, trials: list[tuple[dict, int]], n: int, pin: bool, cache: Path, work: Path,
             threads: int, device: str) -> list[dict[str, Any]]:
    """Run ``trials`` in ``n`` spawned processes, each taking the next trial when free; one record per trial.
    ``device``: ``cpu`` for a sweep asking no GPU (as Ray hides the GPUs from such a trial), else ``cuda``."""
    ctx = mp.get_context("spawn")
    todo, done = ctx.Queue(), ctx.Queue()
    for i in range(len(trials)):
        todo.put(i)
    for _ in range(n):
        todo.put(None)
    cpus = distinct_core_cpus() if pin else []
    procs = [ctx.Process(target=_worker, args=(workload, scale, trials, todo, done, str(cache), str(work), threads,
                                               cpus[k % len(cpus)] if cpus else None, device)) for k in range(n)]
    for p in procs:
        p.start()
    records = [done.get() for _ in trials]
    for p in procs:
        p.join()
    return sorted(records, key=lambda r: r["start"])
