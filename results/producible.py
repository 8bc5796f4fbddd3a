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
