"""Sweep specs: load a YAML file, validate it, apply a scale and ``--set`` overrides, expand trials.

Every problem raises ``SweepError`` whose message names the file, the field path and what was
expected, so the CLI can print it without a traceback. No ``ray`` import here.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.context import SCALES
from orchestrator.registry import ConfigError, build_config, config_to_dict, get_workload

SWEEPS_DIR = Path(__file__).resolve().parent.parent / "sweeps"
DEFAULT_SCALE = "mini"


class SweepError(ValueError):
    """A malformed sweep; the message is meant for the user, without a traceback."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    cpu: float = Field(default=1.0, gt=0)
    gpu: float = Field(default=0.0, ge=0)

    @field_validator("gpu")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if v > 1 and v != int(v):
            raise ValueError("a trial asks for a fraction of one GPU (0 < gpu <= 1) or whole GPUs")
        return v


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
        keys = list(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[k] for k in keys)) if keys else [()]:
            params = {**self.params, **dict(zip(keys, combo))}
            where = f"{self.path}: params/grid"
            cfg = build_config(wl, params, where=where)
            for seed in self.seeds:
                out.append(Trial(config_to_dict(cfg), seed))
        return out


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


def _format_validation(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = "/".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling; valid sweep fields: name, workload, reproduces, description, params, grid, seeds, search, scheduler, resources, max_concurrent, max_failures, scales)"
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


def load_sweep(path: str | Path, scale: str = DEFAULT_SCALE, sets: dict[str, Any] | None = None) -> Sweep:
    """Load, validate and resolve a sweep at ``scale``, applying ``sets`` (``--set``) last."""
    if scale not in SCALES:
        raise SweepError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    p = resolve_path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise SweepError(f"{p}: YAML syntax error: {exc}. Fix the file (indentation, colons, brackets).") from None
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
        res = Resources.model_validate(resources)
    except ValidationError as exc:
        raise SweepError(_format_validation(p, exc)) from None

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

    sweep = Sweep(
        path=p, name=model.name, workload=model.workload, scale=scale, reproduces=model.reproduces,
        params=params, grid=grid, seeds=seeds, search=search, scheduler=model.scheduler, resources=res,
        max_concurrent=model.max_concurrent, max_failures=model.max_failures, sets=sets,
    )
    try:
        sweep.trials()  # type-checks every grid point now, before anything runs
    except ConfigError as exc:
        raise SweepError(str(exc)) from None
    return sweep


def all_sweep_files() -> list[Path]:
    return sorted(SWEEPS_DIR.rglob("*.yaml"))


def dump_trials(sweep: Sweep) -> list[dict[str, Any]]:
    return [copy.deepcopy({"seed": t.seed, **t.params}) for t in sweep.trials()]
