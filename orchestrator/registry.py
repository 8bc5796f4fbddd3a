"""Workload registry: typed config construction and two ways to register a workload.

``declare(name, config=..., entry="pkg.module:function")`` registers it from a torch-free module (each
built-in package's ``__init__``): validating a sweep reads only the config dataclass and the declared
metrics, and the function (torch, timm, ...) is imported the first time ``Workload.fn`` is read, i.e.
when a trial runs. ``@register(name, config=...)`` registers an already imported function (plugins, tests).

This module must stay free of ``ray``, ``mlflow`` and ``torch`` imports: ``orchestrator list`` and every
spec error go through it and must answer in well under 2 s.
"""
from __future__ import annotations

import copy
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
    config_cls: type
    # Every metric name the workload reports or summarises, when it declares them: sweeps are checked against
    # it (a search or ASHA metric it never reports would optimise nothing). ``None``: not declared, not checked.
    # An entry with ``*`` is a shell-style pattern for names built at run time (``error_*`` for PALM's
    # per-corruption errors); plain entries are exact names.
    metrics: frozenset[str] | None = None
    # ``"module:function"``; the module is imported only when ``fn`` is first read (a trial runs).
    entry: str = ""
    # The function itself when it was registered already imported (``@register``).
    function: Callable[..., None] | None = None

    @property
    def module(self) -> str:
        """The module that defines the function, without importing it (a Ray worker imports it there)."""
        return self.entry.partition(":")[0]

    @property
    def fn(self) -> Callable[..., None]:
        if self.function is not None:
            return self.function
        module, _, attr = self.entry.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except AttributeError:
            raise ConfigError(f"workload {self.name!r} is declared with entry {self.entry!r}, but {module} "
                              f"defines no {attr!r}. Fix the entry in its declare(...) call.") from None

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


def _checked_metrics(name: str, config: type, metrics: Any) -> frozenset[str] | None:
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"workload {name!r}: config must be a dataclass, got {config!r}")
    if isinstance(metrics, str):  # a lone string would be read as its characters
        raise TypeError(f"workload {name!r}: metrics must be a list of names, got the string {metrics!r}")
    return frozenset(metrics) if metrics is not None else None


def _add(workload: Workload) -> None:
    existing = _REGISTRY.get(workload.name)
    # The same function seen again (its module imported under a second name, or declared and then
    # decorated) is one workload; two different functions under one name are a mistake.
    if existing is not None and existing.entry.partition(":")[2] != workload.entry.partition(":")[2]:
        raise ValueError(f"workload {workload.name!r} is registered twice ({existing.entry} and {workload.entry})")
    _REGISTRY[workload.name] = workload


def declare(name: str, config: type, entry: str, metrics: Any = None) -> None:
    """Register workload ``name`` without importing its function: ``entry`` is ``"module:function"``,
    imported when a trial runs. ``config``: its dataclass (all fields need defaults); ``metrics``: the
    names it reports or summarises, checked against sweeps (``*`` makes a pattern, ``"error_*"``)."""
    module, colon, attr = entry.partition(":")
    if not (module and colon and attr):
        raise TypeError(f"workload {name!r}: entry must read 'package.module:function', got {entry!r}")
    _add(Workload(name, config, _checked_metrics(name, config, metrics), entry))


def register(name: str, config: type, metrics: Any = None) -> Callable[[Callable], Callable]:
    """Register ``fn(cfg, ctx)`` as workload ``name`` with dataclass ``config`` (all fields need defaults);
    ``metrics``: the names it reports (``ctx.report``) or summarises (``ctx.summary``), checked against sweeps;
    ``*`` in a name makes it a pattern (``"error_*"``) for names built at run time."""
    declared = _checked_metrics(name, config, metrics)

    def deco(fn: Callable) -> Callable:
        _add(Workload(name, config, declared, f"{fn.__module__}:{fn.__qualname__}", fn))
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
    hints = _type_hints(workload.config_cls)
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
            values[key] = _adapter(tp).validate_python(value, strict=_strict(tp, value))
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


# A sweep of a few hundred trials builds thousands of configs (``orchestrator list`` expands every sweep at
# every scale): resolving a class's type hints and building a pydantic validator per field each time
# cost seconds, so both are made once per class and per type.
_HINTS: dict[type, dict[str, Any]] = {}
_ADAPTERS: dict[Any, TypeAdapter] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _adapter(tp: Any) -> TypeAdapter:
    try:
        if tp not in _ADAPTERS:
            _ADAPTERS[tp] = TypeAdapter(tp)
        return _ADAPTERS[tp]
    except TypeError:  # an unhashable annotation: build it each time
        return TypeAdapter(tp)


def _strict(tp: Any, value: Any) -> bool:
    # Allow int -> float (YAML writes 1 for 1.0) but never str -> number or number -> bool.
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return False
    # YAML has no tuples; containers are validated leniently element-wise.
    if typing.get_origin(tp) in (tuple, list, dict) or tp in (tuple, list, dict):
        return False
    return True


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """``dataclasses.asdict`` for a config: nested dataclasses become dicts, containers are copied. Plain
    values are taken as they are (``asdict``'s generic recursion over every field was most of the time
    ``orchestrator list`` spent expanding sweeps)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, (str, int, float, bool, type(None))):
            out[f.name] = value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            out[f.name] = config_to_dict(value)
        else:
            out[f.name] = copy.deepcopy(value)
    return out
