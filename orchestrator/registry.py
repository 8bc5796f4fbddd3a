"""Workload registry: ``@register(name, config=Dataclass)`` and typed config construction.

This module must stay free of ``ray`` and ``mlflow`` imports: workloads import it.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import typing
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import TypeAdapter, ValidationError

WORKLOAD_PACKAGES = ("tts", "palm", "cmsf", "simreg", "compgs", "nola", "slowformer")


class ConfigError(ValueError):
    """A user-facing configuration problem; the message says the cause and the fix."""


@dataclass(frozen=True)
class Workload:
    name: str
    fn: Callable[..., None]
    config_cls: type
    # Every metric name the workload reports or summarises, when it declares them: sweeps are checked against
    # it (a search or ASHA metric it never reports would optimise nothing). ``None``: not declared, not checked.
    # An entry with ``*`` is a shell-style pattern for names built at run time (``error_*`` for PALM's
    # per-corruption errors); plain entries are exact names.
    metrics: frozenset[str] | None = None

    def reports(self, metric: str) -> bool:
        """Whether ``metric`` is one the workload declares (exactly or through a pattern); ``True`` when it
        declares none, because then nothing can be checked."""
        if self.metrics is None:
            return True
        return metric in self.metrics or any("*" in m and fnmatch.fnmatchcase(metric, m) for m in self.metrics)

    @property
    def fields(self) -> dict[str, dataclasses.Field]:
        return {f.name: f for f in dataclasses.fields(self.config_cls)}

    def defaults(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config_cls())


_REGISTRY: dict[str, Workload] = {}


def register(name: str, config: type, metrics: Any = None) -> Callable[[Callable], Callable]:
    """Register ``fn(cfg, ctx)`` as workload ``name`` with dataclass ``config`` (all fields need defaults);
    ``metrics``: the names it reports (``ctx.report``) or summarises (``ctx.summary``), checked against sweeps;
    ``*`` in a name makes it a pattern (``"error_*"``) for names built at run time."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"workload {name!r}: config must be a dataclass, got {config!r}")
    if isinstance(metrics, str):  # a lone string would be read as its characters
        raise TypeError(f"workload {name!r}: metrics must be a list of names, got the string {metrics!r}")
    declared = frozenset(metrics) if metrics is not None else None

    def deco(fn: Callable) -> Callable:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"workload {name!r} is registered twice ({existing.fn.__module__} and {fn.__module__})")
        _REGISTRY[name] = Workload(name, fn, config, declared)
        return fn

    return deco


def _import_builtin(name: str) -> None:
    if name in WORKLOAD_PACKAGES:
        try:
            importlib.import_module(f"workloads.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"workloads.{name}":
                raise


def get_workload(name: str) -> Workload:
    """Look a workload up, importing ``workloads.<name>`` on demand."""
    if name not in _REGISTRY:
        _import_builtin(name)
    if name not in _REGISTRY:
        # The built-in names without importing every package (torch & co.: seconds), so the error is instant.
        known = ", ".join(sorted(set(_REGISTRY) | set(WORKLOAD_PACKAGES))) or "none"
        raise ConfigError(
            f"unknown workload {name!r}. Known workloads: {known}. Fix the `workload:` field of the sweep "
            f"(or register a new one with @register({name!r}, config=...) in an imported module)."
        )
    return _REGISTRY[name]


def available_workloads() -> list[str]:
    for pkg in WORKLOAD_PACKAGES:
        _import_builtin(pkg)
    return sorted(_REGISTRY)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def build_config(workload: Workload, params: dict[str, Any], where: str = "params") -> Any:
    """Build the typed config from a flat dict; unknown keys and wrong types raise ``ConfigError``.

    ``where`` names the place the parameters came from (file and field path) for the error message.
    """
    hints = typing.get_type_hints(workload.config_cls)
    fields = workload.fields
    unknown = sorted(set(params) - set(fields))
    if unknown:
        valid = ", ".join(sorted(fields))
        raise ConfigError(
            f"{where}: unknown parameter(s) {', '.join(repr(u) for u in unknown)} for workload "
            f"{workload.name!r}. Valid parameters: {valid}. Fix the spelling or remove the key; "
            f"a trial never runs with an ignored parameter."
        )
    values: dict[str, Any] = {}
    for key, value in params.items():
        tp = hints[key]
        try:
            values[key] = TypeAdapter(tp).validate_python(value, strict=_strict(tp, value))
        except ValidationError as exc:
            msg = exc.errors()[0].get("msg", str(exc))
            raise ConfigError(
                f"{where}.{key}: expected {_type_name(tp)} for workload {workload.name!r}, got {value!r} "
                f"({type(value).__name__}): {msg}. Fix the value in the sweep or in --set {key}=..."
            ) from None
    try:
        return workload.config_cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: invalid configuration for workload {workload.name!r}: {exc}") from None


def _strict(tp: Any, value: Any) -> bool:
    # Allow int -> float (YAML writes 1 for 1.0) but never str -> number or number -> bool.
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return False
    # YAML has no tuples; containers are validated leniently element-wise.
    if typing.get_origin(tp) in (tuple, list, dict) or tp in (tuple, list, dict):
        return False
    return True


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
