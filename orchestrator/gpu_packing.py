"""``resources: {gpu: auto}``: the GPU fraction of a sweep's trials from their measured peak GPU memory.

Rule (documented in docs/PERFORMANCE.md, "GPU packing"): one trial needs its peak reserved memory (what torch's
caching allocator held, ``torch.cuda.max_memory_reserved``) plus one CUDA context; k trials share a GPU when k of
them fit into the device's memory less a safety margin::

    k = floor(device_memory * (1 - MARGIN) / (peak_reserved + CONTEXT_MIB)),   1 <= k <= MAX_TRIALS_PER_GPU
    k also <= the node's CPUs / the trial's CPUs (more trials per GPU than can run at once gains nothing)
    gpu fraction = 1 / k (rounded down to Ray's 1e-4 resource granularity)

The peak comes from the sweep's last launch when it recorded one for the same first trial (config hash, on the
parent run's tags), else from a probe: the sweep's first trial runs alone on a whole GPU until its second streamed
report (its first two steps, where a training loop has built its model, optimiser state and allocator cache) and
is then stopped. The probe's figure is recorded, so the next launch of the same sweep starts without one.
Without any GPU in the cluster, ``auto`` means 0 GPUs (trials on the CPU), said in one log line.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from orchestrator.spec import Sweep, Trial

MARGIN = 0.10            # of the device's memory kept free: fragmentation, later evaluation passes, NCCL/cuDNN
CONTEXT_MIB = 600        # one CUDA context (driver, cuBLAS/cuDNN handles) outside torch's allocator; ~500 MiB seen
MAX_TRIALS_PER_GPU = 8   # beyond this, time-slicing one GPU gains nothing for the small trials that pack so far
PROBE_REPORTS = 2        # the probe stops after this many streamed reports
PROBE_TIMEOUT_S = 600.0  # a probe still going after this long is stopped and the trials get whole GPUs
PROBE_TAG = "orchestrator.gpu_auto"            # JSON: what the fraction was derived from (on the parent run)
PROBE_HASH_TAG = "orchestrator.gpu_auto_hash"  # the probed trial's config hash (searchable)


@dataclass(frozen=True)
class Packing:
    fraction: float
    per_gpu: int
    peak_mib: float
    device_mib: float
    source: str  # where the peak came from ("probe", "recorded by an earlier launch"), or "no GPU"
    config_hash: str = ""  # the probed trial's

    def tags(self) -> dict[str, str]:
        """The parent run's tags that let the next launch of the sweep skip the probe (``recorded_peak``)."""
        if not self.config_hash or not math.isfinite(self.peak_mib):
            return {}
        rec = {"config_hash": self.config_hash, "peak_mib": round(self.peak_mib, 1),
               "device_mib": round(self.device_mib, 1), "per_gpu": self.per_gpu, "fraction": self.fraction,
               "source": self.source}
        return {PROBE_TAG: json.dumps(rec), PROBE_HASH_TAG: self.config_hash}

    def describe(self) -> str:
        if self.source == "no GPU":
            return "resources gpu=auto: the Ray cluster has no GPU, so each trial runs on the CPU (gpu=0)"
        return (f"resources gpu=auto: peak {self.peak_mib:.0f} MiB per trial ({self.source}) + {CONTEXT_MIB} MiB "
                f"CUDA context on a {self.device_mib:.0f} MiB GPU -> {self.per_gpu} trial(s) per GPU, "
                f"gpu={self.fraction:g}")


def trials_per_gpu(peak_mib: float, device_mib: float, *, cpus_per_trial: float = 1.0,
                   node_cpus: float | None = None, margin: float = MARGIN, context_mib: float = CONTEXT_MIB,
                   max_per_gpu: int = MAX_TRIALS_PER_GPU) -> int:
    """How many trials of ``peak_mib`` share one GPU of ``device_mib`` (the module docstring's rule)."""
    k = math.floor(device_mib * (1.0 - margin) / (max(peak_mib, 0.0) + context_mib))
    if node_cpus is not None and cpus_per_trial > 0:
        k = min(k, math.floor(node_cpus / cpus_per_trial))
    return max(1, min(k, max_per_gpu))


def fraction_for(k: int) -> float:
    """``1/k`` rounded down to 1e-4, so that k trials' requests never add up to more than one GPU in Ray."""
    return math.floor(1e4 / k) / 1e4


def probed_trial(sweep: Sweep) -> Trial:
    """The trial the probe runs: the sweep's first (with a search, its base point at the first seed)."""
    return sweep.trials()[0]


def recorded_peak(client, experiment_id: str, config_hash: str) -> tuple[float, float] | None:
    """(peak MiB, device MiB) recorded by the newest launch of this experiment that probed ``config_hash``."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{PROBE_HASH_TAG}` = '{config_hash}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    for run in runs:
        try:
            rec = json.loads(run.data.tags[PROBE_TAG])
            return float(rec["peak_mib"]), float(rec["device_mib"])
        except (KeyError, ValueError, TypeError):
            return None
    return None


class ProbeStop(Exception):
    """Raised from the probe's report sink once it has seen enough steps."""


def run_probe(workload: str, workload_module: str, scale: str, params: dict[str, Any], seed: int,
              data_root: str | None, cache_dir: str | None, cpus: float) -> dict[str, float]:
    """Inside a Ray task holding one whole GPU: run the trial until its ``PROBE_REPORTS``-th report, return peaks."""
    import importlib

    import torch

    from orchestrator.context import LocalContext
    from orchestrator.registry import build_config, get_workload
    from orchestrator.trial_threads import limit_threads

    limit_threads(cpus)
    if workload_module and not workload_module.startswith("workloads."):
        importlib.import_module(workload_module)
    wl = get_workload(workload)
    cfg = build_config(wl, params, where="gpu=auto probe")
    seen = []

    def sink(kind, payload):
        if kind == "report":
            seen.append(payload)
            if len(seen) >= PROBE_REPORTS:
                raise ProbeStop

    with tempfile.TemporaryDirectory(prefix="gpu-probe-") as tmp:
        ctx = LocalContext(seed=seed, scale=scale, device="cuda", data_root=data_root, cache_dir=cache_dir,
                           work_dir=tmp, sink=sink)
        torch.cuda.reset_peak_memory_stats()
        try:
            wl.fn(cfg, ctx)
        except ProbeStop:
            pass
    out = {"peak_mib": torch.cuda.max_memory_reserved() / 2**20,
           "peak_allocated_mib": torch.cuda.max_memory_allocated() / 2**20,
           "device_mib": torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / 2**20,
           "reports": float(len(seen))}
    torch.cuda.empty_cache()
    return out


def probe_peak(sweep: Sweep, trial: Trial, workload_module: str, data_root: str | None,
               cache_dir: str | None) -> dict[str, float] | None:
    """Run ``run_probe`` on one whole GPU in a worker that exits afterwards (its CUDA context goes with it)."""
    import ray

    task = ray.remote(num_gpus=1, num_cpus=sweep.resources.cpu, max_calls=1, max_retries=0)(run_probe)
    ref = task.remote(sweep.workload, workload_module, sweep.scale, trial.params, trial.seed, data_root, cache_dir,
                      sweep.resources.cpu)
    try:
        return ray.get(ref, timeout=PROBE_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        ray.cancel(ref, force=True)
        return None


def resolve_auto_gpu(sweep: Sweep, client, experiment_id: str, *, workload_module: str,
                     data_root: str | None = None, cache_dir: str | None = None) -> Packing | None:
    """Replace ``gpu: auto`` in ``sweep.resources`` by a number (module docstring); None when it was a number.

    Must run with Ray connected. The probe's error, if the trial itself fails on the GPU, propagates: the same
    trial would fail under Tune too, and its traceback is the useful message."""
    if sweep.resources.gpu != "auto":
        return None
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")] or [ray.cluster_resources()]
    gpu_nodes = [n for n in nodes if n.get("GPU", 0.0) >= 1]
    if not gpu_nodes:
        packing = Packing(0.0, 0, 0.0, 0.0, "no GPU")
    else:
        node_cpus = max(n.get("CPU", 0.0) / n["GPU"] for n in gpu_nodes)  # CPUs that go with one GPU
        trial = probed_trial(sweep)
        found = recorded_peak(client, experiment_id, trial.config_hash)
        if found is not None:
            peak, device, source = found[0], found[1], "recorded by an earlier launch"
        else:
            probe = probe_peak(sweep, trial, workload_module, data_root, cache_dir)
            if probe is None:
                packing = Packing(1.0, 1, float("nan"), float("nan"), "probe timed out")
                sweep.resources = sweep.resources.model_copy(update={"gpu": 1.0})
                print(f"resources gpu=auto: the probe trial did not reach {PROBE_REPORTS} reports in "
                      f"{PROBE_TIMEOUT_S:.0f} s, so each trial gets a whole GPU (gpu=1); set resources.gpu to a "
                      f"fraction to pack them", file=sys.stderr)
                return packing
            peak, device, source = probe["peak_mib"], probe["device_mib"], "probe"
        k = trials_per_gpu(peak, device, cpus_per_trial=sweep.resources.cpu, node_cpus=node_cpus)
        packing = Packing(fraction_for(k), k, peak, device, source, trial.config_hash)
    sweep.resources = sweep.resources.model_copy(update={"gpu": packing.fraction})
    print(packing.describe(), file=sys.stderr)
    return packing
