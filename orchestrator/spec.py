"""Sweep specs: load a YAML file, validate it, apply a scale and ``--set`` overrides, expand trials.

Every problem raises ``SweepError`` whose message names the file, the field path and what was
expected, so the CLI can print it without a traceback. No ``ray`` import here.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.context import SCALES
from orchestrator.paths import sweeps_dir
from orchestrator.registry import ConfigError, build_config, config_to_dict, get_workload

SWEEPS_DIR = sweeps_dir()  # checkout's sweeps/, or the copy a plain `pip install .` ships (orchestrator.paths)
DEFAULT_SCALE = "mini"
# Above this many trials a launch is refused unless the sweep raises ``max_trials``: a 10^7-point grid
# otherwise hangs while its trials are expanded, with memory growing.
DEFAULT_MAX_TRIALS = 10_000
MAX_SWEEP_BYTES = 1 << 20  # a sweep is a short YAML file; anything larger is the wrong file


class SweepError(ValueError):
    """A malformed sweep; the message is meant for the user, without a traceback."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser: ~10x faster
    """``yaml.safe_load`` that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in the same mapping (line {seen[key] + 1} and line "
                            f"{mark.line + 1}); keep one", mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


class Distribution(_Strict):
    """One search dimension: exactly one of the keys."""

    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    integer: tuple[int, int] | None = Field(default=None, alias="int")
    choice: list[Any] | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one(self) -> "Distribution":
        given = [k for k in ("uniform", "loguniform", "integer", "choice") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of uniform: [lo, hi], loguniform: [lo, hi], int: [lo, hi], choice: [...]")
        kind = given[0]
        if kind == "choice":
            if not self.choice:
                raise ValueError("choice needs a non-empty list")
            return self
        lo, hi = getattr(self, kind)
        if not lo < hi:
            raise ValueError(f"{kind}: lower bound {lo} must be below upper bound {hi}")
        if kind == "loguniform" and lo <= 0:
            raise ValueError(f"loguniform: bounds must be positive, got {lo}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("uniform", "loguniform", "integer", "choice") if getattr(self, k) is not None)


class Search(_Strict):
    algorithm: Literal["optuna"] = "optuna"
    metric: str
    mode: Literal["min", "max"]
    num_samples: int = Field(gt=0)
    space: dict[str, Distribution]
    max_concurrent: int | None = Field(default=None, gt=0)

    @field_validator("space")
    @classmethod
    def _nonempty(cls, v: dict) -> dict:
        if not v:
            raise ValueError("the search space is empty; name at least one parameter")
        return v


class Asha(_Strict):
    metric: str
    mode: Literal["min", "max"]
    grace_period: int = Field(default=1, gt=0)
    reduction_factor: float = Field(default=2.0, gt=1)
    max_t: int = Field(default=100, gt=0)


class Scheduler(_Strict):
    asha: Asha


class Resources(_Strict):
    cpu: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    # "auto": a fraction derived from the trials' measured peak GPU memory (orchestrator.gpu_packing)
    gpu: float | Literal["auto"] = 0.0

    @field_validator("gpu", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> float | str:
        if v == "auto":
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError("expected a number of GPUs or 'auto'")
        try:
            v = float(v)
        except ValueError:
            raise ValueError("expected a number of GPUs or 'auto'") from None
        if not math.isfinite(v) or v < 0:
            raise ValueError("expected a finite number of GPUs >= 0 (a fraction of one GPU or whole GPUs) or 'auto'")
        if v > 1 and v != int(v):
            raise ValueError("a trial asks for a fraction of one GPU (0 < gpu <= 1) or whole GPUs")
        return v

    def gpu_text(self) -> str:
        return self.gpu if isinstance(self.gpu, str) else f"{self.gpu:g}"


class ScaleOverride(_Strict):
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] | None = None
    search: dict[str, Any] | None = None
    resources: dict[str, float] | None = None


class SweepModel(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    workload: str
    reproduces: str | None = None
    description: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0])
    search: Search | None = None
    scheduler: Scheduler | None = None
    resources: Resources = Field(default_factory=Resources)
    max_concurrent: int | None = Field(default=None, gt=0)
    max_failures: int = Field(default=1, ge=0)
    max_trials: int = Field(default=DEFAULT_MAX_TRIALS, gt=0)
    scales: dict[Literal["smoke", "mini", "paper"], ScaleOverride] = Field(default_factory=dict)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("seeds is empty; give at least one seed, e.g. [0]")
        if len(set(v)) != len(v):
            raise ValueError(f"seeds has duplicates: {v}")
        return v


@dataclass
class Trial:
    """One resolved point of a sweep: the full typed config (as a dict) and its seed."""

    params: dict[str, Any]
    seed: int

    @property
    def config_hash(self) -> str:
        blob = json.dumps({"params": self.params, "seed": self.seed}, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


@dataclass
class Sweep:
    """A validated sweep at a chosen scale, with overrides applied."""

    path: Path
    name: str
    workload: str
    scale: str
    reproduces: str | None
    params: dict[str, Any]
    grid: dict[str, list[Any]]
    seeds: list[int]
    search: Search | None
    scheduler: Scheduler | None
    resources: Resources
    max_concurrent: int | None
    max_failures: int
    sets: dict[str, Any] = field(default_factory=dict)
    max_trials: int = DEFAULT_MAX_TRIALS

    @property
    def rel_path(self) -> str:
        try:
            return str(self.path.resolve().relative_to(SWEEPS_DIR))
        except ValueError:
            return str(self.path)

    def trials(self) -> list[Trial]:
        """Grid × seeds, each a fully resolved config (defaults filled in). With a search, the search
        dimensions are left at their defaults here; ``orchestrator.launch`` lets Optuna choose them."""
        wl = get_workload(self.workload)
        # Keyed by what the expansion reads, so a sweep changed after loading is expanded afresh.
        key = (wl, json.dumps([self.params, self.grid, self.seeds], default=repr))
        if key not in _EXPANDED:
            _EXPANDED[key] = self._expand(wl)
        return [Trial(dict(t.params), t.seed) for t in _EXPANDED[key]]

    def _expand(self, wl: Any) -> list[Trial]:
        keys = list(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[k] for k in keys)) if keys else [()]:
            params = {**self.params, **dict(zip(keys, combo))}
            where = f"{self.path}: params/grid"
            resolved = config_to_dict(build_config(wl, params, where=where))
            for seed in self.seeds:
                out.append(Trial(dict(resolved), seed))
        return out


# One command (``orchestrator list``, table status) loads the same sweep at several scales and expands it
# more than once; each file is read and parsed once per process, each expansion type-checked once.
_PARSED: dict[tuple, Any] = {}
_EXPANDED: dict[tuple, list[Trial]] = {}


def read_sweep_file(p: Path) -> Any:
    """``read_yaml(p)``, each distinct content parsed once per process (keyed by the bytes' digest: a file
    rewritten within one timestamp tick is still read afresh); a deep copy each call, so callers may modify
    what they get."""
    try:
        data = p.read_bytes()
    except OSError:
        return read_yaml(p)  # read_yaml says what is wrong with the path
    key = (str(p), hashlib.sha1(data).hexdigest())
    if key not in _PARSED:
        _PARSED[key] = read_yaml(p, data)
    return copy.deepcopy(_PARSED[key])


def resolve_path(name_or_path: str | Path) -> Path:
    """Accept a path, or a name relative to ``sweeps/`` with or without ``.yaml``."""
    p = Path(name_or_path)
    candidates = [p, SWEEPS_DIR / p, SWEEPS_DIR / f"{p}.yaml", p.with_suffix(".yaml")]
    for c in candidates:
        if c.is_file():
            return c
    raise SweepError(
        f"sweep file {str(name_or_path)!r} not found (looked at {', '.join(str(c) for c in candidates)}). "
        f"Give a path to a YAML file or a name under sweeps/; `orchestrator list` shows them all."
    )


def _fields_at(loc: tuple, root: type[BaseModel] = None) -> list[str]:
    """The valid field names of the mapping that holds the last element of ``loc`` (for unknown-field hints)."""
    import typing

    model: Any = root or SweepModel
    for part in loc[:-1]:
        if isinstance(model, type) and issubclass(model, BaseModel):
            info = model.model_fields.get(str(part))
            if info is None:
                return []
            model = info.annotation
        else:
            args = [a for a in typing.get_args(model) if a is not type(None)]
            origin = typing.get_origin(model)
            if origin is dict and len(args) == 2:
                model = args[1]
            elif args and len(args) == 1:
                model = args[0]
            else:
                return []
        while typing.get_origin(model) is not None and typing.get_origin(model) is not dict:
            inner = [a for a in typing.get_args(model) if a is not type(None)]
            if len(inner) != 1:
                break
            model = inner[0]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _format_validation(path: Path, exc: ValidationError, root: type[BaseModel] | None = None,
                       prefix: tuple = ()) -> str:
    lines = []
    for err in exc.errors():
        loc = "/".join(str(x) for x in (*prefix, *err["loc"])) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            valid = _fields_at(tuple(err["loc"]), root)
            where = f"valid fields under {'/'.join(map(str, (*prefix, *err['loc'][:-1])))}" if len(err["loc"]) + len(prefix) > 1 \
                else "valid sweep fields"
            msg = f"unknown field (check its spelling; {where}: {', '.join(valid)})"
        elif err["type"] == "missing":
            msg = "this required field is missing"
        lines.append(f"{path}: field {loc}: {msg} (got {err.get('input')!r})" if err["type"] != "missing" else f"{path}: field {loc}: {msg}")
    return "invalid sweep spec:\n  " + "\n  ".join(lines)


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` items, values parsed as YAML scalars (``1e-3`` → float, ``true`` → bool)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SweepError(f"--set {item!r}: expected key=value, e.g. --set lr=0.01")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value.lower() for c in ".e") else value
            except ValueError:
                pass
        out[key.strip()] = value
    return out


def read_yaml(p: Path, data: bytes | None = None) -> Any:
    """The YAML document in ``p`` (``data``: its bytes, already read); a binary, huge, non-UTF-8 or malformed
    file (or a key given twice) is a ``SweepError`` that says so, never a traceback."""
    try:
        data = p.read_bytes() if data is None else data
    except OSError as exc:
        raise SweepError(f"{p}: cannot read the sweep file ({exc.strerror}). Check the path and its permissions.") from None
    if len(data) > MAX_SWEEP_BYTES:
        raise SweepError(f"{p}: {len(data)} bytes is not a sweep file (sweeps are short YAML files, under "
                         f"{MAX_SWEEP_BYTES >> 10} KiB). Check the path.")
    if b"\x00" in data:
        raise SweepError(f"{p}: this is a binary file, not a YAML sweep. Give the path of a .yaml sweep file "
                         f"(`orchestrator list` shows them).")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SweepError(f"{p}: not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); a sweep is a "
                         f"UTF-8 YAML file. Re-save it as UTF-8 or check the path.") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise SweepError(f"{p}: YAML syntax error: {detail}. Fix the file (indentation, colons, brackets, repeated keys)."
                         ) from None


def count_trials(grid: dict[str, list[Any]], seeds: list[int]) -> int:
    n = len(seeds)
    for values in grid.values():
        n *= len(values)
    return n


def load_sweep(path: str | Path, scale: str = DEFAULT_SCALE, sets: dict[str, Any] | None = None) -> Sweep:
    """Load, validate and resolve a sweep at ``scale``, applying ``sets`` (``--set``) last."""
    if scale not in SCALES:
        raise SweepError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    p = resolve_path(path)
    raw = read_sweep_file(p)
    if not isinstance(raw, dict):
        raise SweepError(f"{p}: a sweep must be a YAML mapping with at least `name` and `workload`, got {type(raw).__name__}")
    try:
        model = SweepModel.model_validate(raw)
    except ValidationError as exc:
        raise SweepError(_format_validation(p, exc)) from None

    params = dict(model.params)
    grid = {k: list(v) for k, v in model.grid.items()}
    seeds = list(model.seeds)
    search_raw = model.search.model_dump(by_alias=True, exclude_none=True) if model.search else None
    resources = model.resources.model_dump()
    over = model.scales.get(scale)
    if over is not None:
        params.update(over.params)
        grid.update({k: list(v) for k, v in over.grid.items()})
        if over.seeds is not None:
            seeds = list(over.seeds)
        if over.search:
            if search_raw is None:
                raise SweepError(f"{p}: field scales/{scale}/search: the sweep has no `search` to override")
            search_raw = {**search_raw, **over.search}
        if over.resources:
            resources.update(over.resources)
    sets = dict(sets or {})
    for key, value in sets.items():
        grid.pop(key, None)  # --set fixes a gridded parameter to one value
        params[key] = value

    for key, values in grid.items():
        if not values:
            raise SweepError(f"{p}: field grid/{key}: empty list; give at least one value or remove the key")
    overlap = set(grid) & set(params) - set(sets)
    if overlap:
        raise SweepError(f"{p}: parameter(s) {sorted(overlap)} appear in both params and grid; keep each in one place")
    try:
        search = Search.model_validate(search_raw) if search_raw else None
    except ValidationError as exc:
        raise SweepError(_format_validation(p, exc, Search, ("search",))) from None
    try:
        res = Resources.model_validate(resources)
    except ValidationError as exc:
        raise SweepError(_format_validation(p, exc, Resources, ("resources",))) from None
    n_trials = count_trials(grid, seeds)
    if n_trials > model.max_trials:
        raise SweepError(f"{p}: the grid expands to {n_trials:,} trials ({' x '.join(str(len(v)) for v in grid.values())}"
                         f" values x {len(seeds)} seed(s)), above max_trials = {model.max_trials:,}. Narrow the grid, "
                         f"or set `max_trials: {n_trials}` in the sweep if you mean to run that many.")

    try:
        wl = get_workload(model.workload)
    except ConfigError as exc:
        raise SweepError(f"{p}: field workload: {exc}") from None
    valid = set(wl.fields)
    for section, keys in (("grid", grid), ("search/space", search.space if search else {})):
        bad = sorted(set(keys) - valid)
        if bad:
            raise SweepError(
                f"{p}: field {section}: unknown parameter(s) {bad} for workload {model.workload!r}. "
                f"Valid parameters: {', '.join(sorted(valid))}."
            )
    if search and set(search.space) & (set(grid) | set(params) - set(sets)):
        dup = sorted(set(search.space) & (set(grid) | set(params)))
        raise SweepError(f"{p}: field search/space: {dup} are also fixed in params or grid; a searched parameter must be free")
    if search:
        _check_search_space(p, wl, params, search)
    _check_metrics_declared(p, wl, search, model.scheduler)

    sweep = Sweep(
        path=p, name=model.name, workload=model.workload, scale=scale, reproduces=model.reproduces,
        params=params, grid=grid, seeds=seeds, search=search, scheduler=model.scheduler, resources=res,
        max_concurrent=model.max_concurrent, max_failures=model.max_failures, sets=sets, max_trials=model.max_trials,
    )
    try:
        sweep.trials()  # type-checks every grid point now, before anything runs
    except ConfigError as exc:
        raise SweepError(str(exc)) from None
    return sweep


def _check_search_space(p: Path, wl: Any, params: dict[str, Any], search: Search) -> None:
    """Every value a search dimension can take must be valid for its field (a ``choice`` outside a
    ``Literal``, or a float range on an ``int`` field, would otherwise crash the driver once sampled)."""
    for key, dist in search.space.items():
        kind = dist.kind
        if kind == "choice":
            samples = list(dist.choice)
        elif kind == "integer":
            samples = [int(dist.integer[0]), int(dist.integer[1])]
        else:
            lo, hi = getattr(dist, kind)
            samples = [float(lo), float(hi)]
        for value in samples:
            try:
                build_config(wl, {**params, key: value}, where=f"{p}: search/space/{key}")
            except ConfigError as exc:
                hint = "" if kind == "choice" else f" ({kind} samples are {'integers' if kind == 'integer' else 'floats'})"
                raise SweepError(f"{exc}{hint}. Every value the search can draw must be valid; fix search/space/{key}."
                                 ) from None


def _check_metrics_declared(p: Path, wl: Any, search: Search | None, scheduler: Scheduler | None) -> None:
    """A search or ASHA metric the workload never reports optimises nothing; refuse it when the workload
    declares its metrics (``@register(..., metrics=...)``)."""
    declared = getattr(wl, "metrics", None)
    if not declared:
        return
    for where, metric in (("search/metric", search.metric if search else None),
                          ("scheduler/asha/metric", scheduler.asha.metric if scheduler else None)):
        if metric is not None and not wl.reports(metric):
            raise SweepError(f"{p}: field {where}: workload {wl.name!r} never reports a metric {metric!r}, so the "
                             f"{'search' if where.startswith('search') else 'scheduler'} would optimise nothing. It "
                             f"reports: {', '.join(sorted(declared))}.")


def apply_resource_overrides(sweep: Sweep, items: list[str] | None) -> None:
    """``--set-resources cpu=N gpu=N`` on a loaded sweep, validated like ``resources:`` in the YAML."""
    values = sweep.resources.model_dump()
    for item in items or []:
        key, _, raw = item.partition("=")
        key = key.strip()
        if key not in ("cpu", "gpu") or not raw.strip():
            raise SweepError(f"--set-resources {item!r}: expected cpu=N or gpu=N (e.g. --set-resources gpu=0.5)")
        try:
            values[key] = "auto" if key == "gpu" and raw.strip() == "auto" else float(raw)
        except ValueError:
            raise SweepError(f"--set-resources {item!r}: {raw!r} is not a number; give e.g. {key}=1 or {key}=0.25") from None
    try:
        sweep.resources = Resources.model_validate(values)
    except ValidationError as exc:
        detail = "; ".join(f"{'/'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors())
        raise SweepError(f"--set-resources: {detail}. A trial needs cpu > 0 and 0 <= gpu (a fraction of one GPU "
                         f"or whole GPUs, or gpu=auto).") from None


def all_sweep_files() -> list[Path]:
    return sorted(SWEEPS_DIR.rglob("*.yaml"))


def dump_trials(sweep: Sweep) -> list[dict[str, Any]]:
    return [copy.deepcopy({"seed": t.seed, **t.params}) for t in sweep.trials()]
