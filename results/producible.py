"""Which rows and columns of a table its sweeps can produce at a scale.

A published row (or column) that no sweep trial at this scale has the keys of is "paper only": it is
shown beside ours but never counted as missing, so the "run reproduce" hint cannot loop on it.
"""
from __future__ import annotations

from typing import Any

import yaml


def key_text(value: Any) -> str:
    """A key value as the tables compare it: MLflow keeps params as strings, the sweeps as YAML values."""
    try:
        parsed = yaml.safe_load(str(value))
    except yaml.YAMLError:
        return str(value)
    return str(parsed)


def producible_points(spec: Any, scale: str) -> list[dict[str, str]] | None:
    """Key values (``spec.rows`` + ``spec.columns``) of every trial the table's sweeps run at ``scale``,
    after the table's filters; ``None`` when that cannot be known without running (an Optuna search
    chooses some keys, or a sweep does not load here)."""
    from orchestrator.context import RunEnv, recorded_params
    from orchestrator.registry import build_config, get_workload
    from orchestrator.spec import SWEEPS_DIR, load_sweep

    keys = [*spec.rows, *spec.columns]
    points: list[dict[str, str]] = []
    for rel in spec.sweeps:
        try:
            sweep = load_sweep(SWEEPS_DIR / rel, scale)
            trials = sweep.trials()
        except Exception:  # any load error: unknown, so nothing is marked paper-only by mistake
            return None
        if sweep.search and any(k in sweep.search.space for k in keys):
            return None
        wl = get_workload(sweep.workload)
        for t in trials:
            # as the runs record them: "auto"/sentinel fields resolved (orchestrator.context.record_config)
            try:
                params = {**recorded_params(build_config(wl, t.params), RunEnv(scale)), "seed": t.seed}
            except Exception:  # a config that cannot resolve here (unknown backbone, ...): unknown as well
                return None
            if any(k not in params for k in keys):
                return None
            if any(key_text(params.get(k)) != key_text(v) for k, v in spec.filters.items()):
                continue
            points.append({k: key_text(params[k]) for k in keys})
    return points


UNRESOLVED = ("auto", "")  # config values a workload resolves per scale ("auto" dataset, "" backbone)


def scale_produces(spec: Any, scale: str) -> bool:
    """Whether the table's sweeps run, at ``scale``, at least one trial its filters keep: read from the sweep
    files and the configs' defaults (no workload code, no torch: ``orchestrator list`` asks for every table).
    Only a filter on a value the workload resolves itself ("auto") needs ``producible_points``."""
    from orchestrator.registry import get_workload
    from orchestrator.spec import SWEEPS_DIR, load_sweep

    resolve = False
    for rel in spec.sweeps:
        try:
            sweep = load_sweep(SWEEPS_DIR / rel, scale)
            trials = sweep.trials()
            defaults = get_workload(sweep.workload).defaults() if spec.filters else {}
        except Exception:  # an invalid sweep: its status column says so; it produces nothing
            continue
        for t in trials:
            known = True
            for key, wanted in spec.filters.items():
                value = key_text(t.params.get(key, defaults.get(key, "")))
                if value in UNRESOLVED:
                    known = False
                elif value != key_text(wanted):
                    break
            else:
                if known:
                    return True
                resolve = True
    if resolve:
        points = producible_points(spec, scale)
        return points is None or bool(points)
    return False


def producing_scales(spec: Any) -> list[str]:
    """The scales (smoke, mini, paper) at which ``orchestrator reproduce`` fills at least one of the table's
    cells; none: its numbers are paper only at every scale."""
    return [s for s in ("smoke", "mini", "paper") if scale_produces(spec, s)]
