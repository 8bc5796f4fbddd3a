"""System metrics of a trial (CPU, memory, GPU utilisation and memory), sampled inside the trial.

MLflow's own system-metrics monitor samples the process that owns the run, which under Ray is the
driver, not the worker that trains. So the trial samples itself and the values ride with its
streamed reports to the driver, which logs them under ``system/`` (MLflow's UI groups that prefix
in its own chart section).
"""
from __future__ import annotations

import time
from typing import Any

PREFIX = "system/"


def _gpu_metrics(device: Any) -> dict[str, float]:
    import torch

    if getattr(device, "type", str(device)) != "cuda" or not torch.cuda.is_available():
        return {}
    index = device.index if getattr(device, "index", None) is not None else torch.cuda.current_device()
    out = {f"{PREFIX}gpu_memory_mb": torch.cuda.memory_reserved(index) / 2**20,
           f"{PREFIX}gpu_memory_allocated_mb": torch.cuda.memory_allocated(index) / 2**20}
    try:  # needs the NVML bindings (nvidia-ml-py); absent on many CPU machines
        out[f"{PREFIX}gpu_utilization_percent"] = float(torch.cuda.utilization(index))
    except Exception:
        pass
    return out


class SystemSampler:
    """``sample_if_due()`` returns ``system/*`` values at most every ``interval_s`` seconds, else ``{}``.

    CPU percent is this process's, over the time since the previous sample (100 = one core busy)."""

    def __init__(self, device: Any = "cpu", interval_s: float = 10.0):
        import psutil

        self.device = device
        self.interval_s = float(interval_s)
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # primes the counter: the first real sample covers [now, first report]
        self._last = float("-inf")

    def sample(self) -> dict[str, float]:
        import psutil

        mem = self._process.memory_info()
        out = {f"{PREFIX}cpu_percent": float(self._process.cpu_percent(None)),
               f"{PREFIX}memory_rss_mb": mem.rss / 2**20,
               f"{PREFIX}host_memory_used_percent": float(psutil.virtual_memory().percent)}
        out.update(_gpu_metrics(self.device))
        return out

    def sample_if_due(self, now: float | None = None) -> dict[str, float]:
        now = time.monotonic() if now is None else now
        if now - self._last < self.interval_s:
            return {}
        self._last = now
        return self.sample()
