"""System metrics of a trial (CPU, memory, GPU utilisation and memory), sampled inside the trial.

MLflow's own system-metrics monitor samples the process that owns the run, which under Ray is the
driver, not the worker that trains. So the trial samples itself and the values ride with its
streamed reports to the driver, which logs them under ``system/`` (MLflow's UI groups that prefix
in its own chart section).
"""
from __future__ import annotations

import logging
import time
from typing import Any

PREFIX = "system/"
GPU_METRICS_TAG = "orchestrator.gpu_metrics"  # "nvml" when GPU utilisation is sampled, else why it is not
log = logging.getLogger(__name__)
warned_notes: set[str] = set()  # notes already logged by this process (a trial's sampler logs its note once)


def open_nvml() -> tuple[Any, str]:
    """The started ``pynvml`` module (the ``nvidia-ml-py`` distribution), or ``None`` and why not."""
    try:
        import pynvml
    except ImportError:
        return None, ("GPU utilisation not sampled: the NVML bindings are missing. Install them with "
                      "`pip install nvidia-ml-py` (a declared dependency of cv-orchestrator).")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml.NVMLError: no NVIDIA driver, or libnvidia-ml.so not found
        return None, (f"GPU utilisation not sampled: NVML did not start ({type(exc).__name__}: {exc}). Check that "
                      f"the NVIDIA driver is installed and libnvidia-ml.so is on the library path.")
    return pynvml, ""


def cuda_uuid(index: int) -> str | None:
    """NVML's name (``GPU-<uuid>``) of torch's device ``index``: NVML counts every GPU of the host, torch only
    the visible ones (``CUDA_VISIBLE_DEVICES``, Ray's GPU assignment), so indices need not agree."""
    import torch

    try:
        return f"GPU-{torch.cuda.get_device_properties(index).uuid}"
    except Exception:  # an old driver/torch without the uuid property
        return None


def torch_gpu_memory(index: int) -> dict[str, float]:
    """This process's CUDA memory as torch's caching allocator holds it (reserved) and uses it (allocated)."""
    import torch

    return {f"{PREFIX}gpu_memory_mb": torch.cuda.memory_reserved(index) / 2**20,
            f"{PREFIX}gpu_memory_allocated_mb": torch.cuda.memory_allocated(index) / 2**20}


class GpuMonitor:
    """GPU utilisation and device memory through NVML, plus torch's own memory counters.

    ``note`` says, once per trial, why utilisation is not sampled (NVML missing or not starting); it is ``""``
    on a CPU device and ``"nvml"`` once NVML answers. A call that fails later (GPU lost) drops NVML's values
    for the rest of the trial with a note, never the trial."""

    def __init__(self, device: Any):
        self.index: int | None = None
        self.nvml: Any = None
        self.handle: Any = None
        self.note = ""
        if getattr(device, "type", str(device).split(":")[0]) != "cuda":
            return
        import torch

        if not torch.cuda.is_available():
            return
        index = getattr(device, "index", None)
        self.index = index if index is not None else torch.cuda.current_device()
        self.nvml, self.note = open_nvml()
        if self.nvml is not None:
            try:
                uuid = cuda_uuid(self.index)
                self.handle = (self.nvml.nvmlDeviceGetHandleByUUID(uuid) if uuid
                               else self.nvml.nvmlDeviceGetHandleByIndex(self.index))
                self.note = "nvml"
            except Exception as exc:
                self.nvml, self.note = None, (f"GPU utilisation not sampled: NVML has no handle for cuda:{self.index} "
                                              f"({type(exc).__name__}: {exc}).")
        if self.note != "nvml" and self.note not in warned_notes:
            warned_notes.add(self.note)
            log.warning(self.note)

    def sample(self) -> dict[str, float]:
        if self.index is None:
            return {}
        out = torch_gpu_memory(self.index)
        if self.handle is None:
            return out
        try:
            util = self.nvml.nvmlDeviceGetUtilizationRates(self.handle)
            mem = self.nvml.nvmlDeviceGetMemoryInfo(self.handle)
        except Exception as exc:
            self.handle, self.note = None, f"GPU utilisation no longer sampled: NVML failed ({type(exc).__name__}: {exc})."
            log.warning(self.note)
            return out
        out[f"{PREFIX}gpu_utilization_percent"] = float(util.gpu)
        out[f"{PREFIX}gpu_memory_used_mb"] = mem.used / 2**20  # the whole device, every process on it
        out[f"{PREFIX}gpu_memory_used_percent"] = 100.0 * mem.used / mem.total if mem.total else 0.0
        return out


class SystemSampler:
    """``sample_if_due()`` returns ``system/*`` values at most every ``interval_s`` seconds, else ``{}``.

    CPU percent is this process's, over the time since the previous sample (100 = one core busy)."""

    def __init__(self, device: Any = "cpu", interval_s: float = 10.0):
        import psutil

        self.device = device
        self.interval_s = float(interval_s)
        self.gpu = GpuMonitor(device)
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # primes the counter: the first real sample covers [now, first report]
        self._last = float("-inf")

    def sample(self) -> dict[str, float]:
        import psutil

        mem = self._process.memory_info()
        out = {f"{PREFIX}cpu_percent": float(self._process.cpu_percent(None)),
               f"{PREFIX}memory_rss_mb": mem.rss / 2**20,
               f"{PREFIX}host_memory_used_percent": float(psutil.virtual_memory().percent)}
        out.update(self.gpu.sample())
        return out

    @property
    def gpu_note(self) -> str:
        """The run's ``orchestrator.gpu_metrics`` tag: ``nvml``, why GPU utilisation is not sampled, or ``""`` (CPU)."""
        return self.gpu.note

    def sample_if_due(self, now: float | None = None) -> dict[str, float]:
        now = time.monotonic() if now is None else now
        if now - self._last < self.interval_s:
            return {}
        self._last = now
        return self.sample()
