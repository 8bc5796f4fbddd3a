"""MLflow run names that say what varies between the trials of a sweep.

The MLflow UI cuts the run-name column after ~30 characters, so a name starts with what tells runs
apart (``method=palm alpha=0.5 seed=0``); the Ray trial id goes into a tag, never into the name.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

# MLflow limits run names to 250 characters; longer ones are cut with an ellipsis.
MAX_NAME = 250


def format_value(value: Any) -> str:
    """Short, stable text for a parameter value: floats with 4 significant digits (Optuna samples
    such as 0.123456789 would otherwise fill the column), everything else as ``str``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def varying_keys(points: Iterable[dict[str, Any]]) -> list[str]:
    """Keys whose value differs between at least two of ``points`` (in the first point's key order)."""
    points = list(points)
    if not points:
        return []
    return [k for k in points[0] if len({json.dumps(p.get(k), default=str, sort_keys=True) for p in points}) > 1]


def trial_run_name(params: dict[str, Any], seed: int, varying: Iterable[str], workload: str = "") -> str:
    """``alpha=0.5 method=palm seed=0``: the varying (grid or searched) values, then the seed.

    A sweep whose trials differ only by seed is named by its ``method`` when the workload has one
    (``method=cotta seed=0``: a one-method PALM sweep is not "palm"), else ``<workload> seed=N``, so the
    name still says what ran."""
    parts = [f"{k}={format_value(params[k])}" for k in varying if k in params and k != "seed"]
    if not parts and "method" in params:
        parts = [f"method={format_value(params['method'])}"]
    if not parts and workload:
        parts = [workload]
    name = " ".join([*parts, f"seed={seed}"])
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"

