"""The ``Context`` handed to every workload, and its in-process implementation.

Kept free of ``ray`` and ``mlflow`` so workloads and tests can use it directly; the Ray Tune
implementation lives in ``orchestrator.ray_context``.
"""
from __future__ import annotations

import abc
import dataclasses
import math
import os
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

# torch and numpy are imported where they are used: `orchestrator list/show` and every spec error
# import this module for SCALES and must answer without paying torch's ~1 s import.
if TYPE_CHECKING:
    import torch

SCALES = ("smoke", "mini", "paper")


def default_data_root() -> Path:
    """Where paper-scale data sets live: ``$ORCHESTRATOR_DATA`` or ``./data``."""
    return Path(os.environ.get("ORCHESTRATOR_DATA", "data")).expanduser().resolve()


def default_cache_dir() -> Path:
    """Where derived data (digits-c, cached source models) go: ``$ORCHESTRATOR_CACHE`` or ``~/.cache/cv-orchestrator``."""
    return Path(os.environ.get("ORCHESTRATOR_CACHE", Path.home() / ".cache" / "cv-orchestrator")).expanduser()


def device_label(device: "torch.device") -> str:
    """What a trial ran on, for its MLflow tag: ``cpu`` or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    import torch

    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def pick_device(requested: str = "auto") -> "torch.device":
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def _check_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    import numpy as np
    import torch

    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().item()
        if isinstance(value, (np.generic,)):
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metric {key!r} must be a number, got {type(value).__name__}")
        out[key] = float(value)
    return out


def resolved_config(cfg: Any, env: Any) -> Any:
    """``cfg`` with its "auto"/sentinel fields replaced by the values that run.

    A config class opts in with a pure method ``resolved(self, env)`` that reads only ``env.scale``,
    ``env.data_root`` and ``env.device`` (a ``Context`` is such an ``env``); without it the config runs as
    given. Workloads whose resolution needs the data (CMSF's memory size = the training set size) call
    ``ctx.record_config`` themselves once they know it."""
    hook = getattr(cfg, "resolved", None)
    return hook(env) if callable(hook) else cfg


@dataclasses.dataclass(frozen=True)
class RunEnv:
    """What ``resolved_config`` may read besides the config, for callers without a ``Context`` (the tables ask
    which key values a sweep's trials record). A ``Context`` has the same three attributes."""

    scale: str
    data_root: Path = dataclasses.field(default_factory=default_data_root)
    device: str = "cpu"


def recorded_params(cfg: Any, env: Any) -> dict[str, Any]:
    """The params a trial of ``cfg`` records in MLflow before its data is read: resolved values of the fields its
    method reads (``not_applicable`` ones left out). Workloads that resolve more from their data (CMSF's memory
    size) record that at run time; no table keys on such a value."""
    record = config_record(resolved_config(cfg, env))
    return {k: v for k, v in record["values"].items() if k not in record["not_applicable"]}


def config_record(cfg: Any) -> dict[str, Any]:
    """What the MLflow record of a trial's config holds: every field's value (``values``) and the fields the
    chosen method ignores (``not_applicable``; a config class lists them with ``not_applicable(self)``)."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"record_config takes the workload's config dataclass, got {type(cfg).__name__}")
    hook = getattr(cfg, "not_applicable", None)
    unused = sorted(hook()) if callable(hook) else []
    return {"values": dataclasses.asdict(cfg), "not_applicable": unused}


class Context(abc.ABC):
    """What a workload may use. Subclasses decide where reports, artifacts and checkpoints go.

    Attributes:
        device: torch device to run on (``cuda`` when a GPU was assigned, else ``cpu``).
        seed: the trial's seed, already applied to python/numpy/torch.
        scale: ``smoke`` | ``mini`` | ``paper``.
        data_root: folder holding paper-scale data sets.
        cache_dir: folder for derived, re-creatable data (digits-c, cached source models).
        work_dir: a scratch folder private to this trial.
        system_sampler: when set (by the local runner and the Ray trainable), ``report`` adds its
            ``system/*`` values (CPU, memory, GPU) every few seconds to the streamed event.
        on_progress: when set, called as ``on_progress(done, total, desc)`` by ``progress``.
        config: the ``config_record`` of the config that runs (``record_config``), sent on with the trial's
            first event: MLflow params, ``config.json`` and dataset inputs are made from it.
    """

    def __init__(self, *, seed: int = 0, scale: str = "smoke", device: str = "auto",
                 data_root: Path | str | None = None, cache_dir: Path | str | None = None,
                 work_dir: Path | str | None = None, deterministic: bool = True):
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
        self.seed = int(seed)
        self.scale = scale
        self.device = pick_device(device)
        self.data_root = Path(data_root) if data_root is not None else default_data_root()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = Path(work_dir) if work_dir is not None else Path.cwd()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.system_sampler: Any = None
        self.on_progress: Callable[[int, int, str], None] | None = None
        self.config: dict[str, Any] | None = None  # config_record of the config that runs (record_config)
        self._config_delivered = False
        seed_everything(self.seed, deterministic)

    # -- to override -------------------------------------------------------------------------
    @abc.abstractmethod
    def _emit_report(self, step: int, metrics: dict[str, float]) -> None:
        """Deliver the event to where this context records things."""

    @abc.abstractmethod
    def _emit_summary(self, metrics: dict[str, float]) -> None:
        """Deliver the event to where this context records things."""

    @abc.abstractmethod
    def _emit_artifact(self, path: Path, name: str) -> None:
        """Deliver the event to where this context records things."""

    @abc.abstractmethod
    def _emit_config(self, record: dict[str, Any]) -> None:
        """Deliver the config record (once, before the trial's first other event) to where this context records things."""

    # -- the workload API --------------------------------------------------------------------
    def record_config(self, cfg: Any) -> None:
        """Record ``cfg`` -- the workload's config dataclass with every "auto"/sentinel field resolved -- as the
        trial's MLflow params and its ``config.json`` artifact, so the record shows the values that ran.

        The runners already call it with ``resolved_config(cfg, ctx)`` before the workload starts; a workload
        whose resolution depends on its data calls it again once it knows the values. Params cannot change in
        MLflow, so this must happen before the first ``report``/``summary``/``artifact``/``checkpoint``."""
        if self._config_delivered:
            raise RuntimeError(
                "record_config was called after the trial's first report/summary/artifact, when its params were "
                "already recorded. Call ctx.record_config(cfg) right after resolving the config, before any "
                "other ctx call that records something.")
        self.config = config_record(cfg)

    def deliver_config(self) -> None:
        """Send the recorded config on, once (the runners call it when a workload ends without any event)."""
        if self._config_delivered or self.config is None:
            return
        self._config_delivered = True
        self._emit_config(self.config)

    def report(self, step: int, **metrics: Any) -> None:
        """Stream metrics for ``step`` (MLflow metric history; Ray Tune's intermediate results)."""
        values = _check_metrics(metrics)
        if self.system_sampler is not None:
            values.update(self.system_sampler.sample_if_due())
        self.deliver_config()
        self._emit_report(int(step), values)

    def summary(self, **metrics: Any) -> None:
        """Final numbers that the paper tables read. May be called several times; later keys win."""
        values = _check_metrics(metrics)
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:  # MLflow would store inf as 1.8e308; a table must show neither
            raise ValueError(f"summary metrics {bad} are NaN or infinite; a table must never show them as a result")
        self.deliver_config()
        self._emit_summary(values)

    def artifact(self, path: str | Path, name: str | None = None) -> None:
        """Attach a file (plot, patch, codebook, checkpoint) to the trial's record."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"artifact {p} does not exist")
        self.deliver_config()
        self._emit_artifact(p, name or p.name)

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Save resumable state (anything ``torch.save`` accepts); ``restore`` returns the latest one."""
        path = self.work_dir / "checkpoint.pt"
        tmp = path.with_suffix(".tmp")
        import torch

        torch.save(state, tmp)
        os.replace(tmp, path)
        self.deliver_config()
        self._on_checkpoint(path)

    def _on_checkpoint(self, path: Path) -> None:
        pass

    def restore(self) -> dict[str, Any] | None:
        """The state of the latest ``checkpoint`` of this trial, or ``None`` on a fresh start."""
        path = self._restore_path()
        if path is None or not path.exists():
            return None
        import torch

        try:
            return torch.load(path, map_location="cpu", weights_only=True)  # a checkpoint never runs code
        except Exception as exc:  # a half-written or foreign file must not kill the trial silently
            raise RuntimeError(
                f"checkpoint {path} is corrupt or unreadable ({exc}). Delete it to restart this trial "
                f"from scratch; its recorded metrics are kept."
            ) from exc

    def _restore_path(self) -> Path | None:
        return self.work_dir / "checkpoint.pt"

    def progress(self, done: int, total: int, desc: str = "") -> None:
        """Progress hook; cheap to call often. ``total`` 0 means unknown (a stream of unknown length)."""
        self._on_progress(done, total, desc)
        if self.on_progress is not None:
            self.on_progress(int(done), int(total), desc)

    def _on_progress(self, done: int, total: int, desc: str) -> None:
        pass


class LocalContext(Context):
    """In-process context for tests and ``orchestrator run --local``: keeps everything in memory
    and under ``work_dir``; an optional ``sink(kind, payload)`` receives each event (``config``, ``report``,
    ``summary``, ``artifact``; used to log to MLflow from the local runner)."""

    def __init__(self, *, sink: Callable[[str, Any], None] | None = None, **kwargs: Any):
        self.sink = sink
        self.reports: list[tuple[int, dict[str, float]]] = []
        self.summaries: dict[str, float] = {}
        self.artifacts: dict[str, Path] = {}
        self.progress_log: list[tuple[int, int, str]] = []
        super().__init__(**kwargs)
    def _emit_report(self, step: int, metrics: dict[str, float]) -> None:
        self.reports.append((step, metrics))
        if self.sink:
            self.sink("report", (step, metrics))

    def _emit_summary(self, metrics: dict[str, float]) -> None:
        self.summaries.update(metrics)
        if self.sink:
            self.sink("summary", metrics)

    def _emit_config(self, record: dict[str, Any]) -> None:
        if self.sink:
            self.sink("config", record)

    def _emit_artifact(self, path: Path, name: str) -> None:
        dest = self.work_dir / "artifacts" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.resolve() != dest.resolve():
            shutil.copy2(path, dest)
        self.artifacts[name] = dest
        if self.sink:
            self.sink("artifact", dest)

    def _on_progress(self, done: int, total: int, desc: str) -> None:
        self.progress_log.append((done, total, desc))

    def metric_history(self, key: str) -> list[tuple[int, float]]:
        return [(s, m[key]) for s, m in self.reports if key in m]
