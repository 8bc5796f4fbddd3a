"""Where an Optuna search keeps its study, so ``optuna-dashboard`` opens it and a later launch continues it.

One SQLite file beside the MLflow store (``optuna.db`` next to ``mlruns.db``; ``./optuna.db`` when MLflow
is a server), one study per sweep and scale (``<sweep name>-<scale>``). ``$ORCHESTRATOR_OPTUNA_STORAGE``
(any Optuna storage URL) overrides the file. Ray Tune's OptunaSearch loads an existing study of that name,
so a new launch of the same search adds to it instead of starting over.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STORAGE_ENV = "ORCHESTRATOR_OPTUNA_STORAGE"
FILE_NAME = "optuna.db"


def storage_url(tracking_uri: str) -> str:
    env = os.environ.get(STORAGE_ENV)
    if env:
        return env
    if tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri[len("sqlite:///"):]).resolve().parent
    else:
        folder = Path.cwd()
    return f"sqlite:///{folder / FILE_NAME}"


def study_name(sweep: Any) -> str:
    return f"{sweep.name}-{sweep.scale}"


def study_kwargs(sweep: Any, tracking_uri: str) -> dict[str, Any]:
    """``storage`` and ``study_name`` for ``OptunaSearch``; empty for a sweep without a search."""
    if not sweep.search:
        return {}
    from optuna.storages import RDBStorage

    return {"storage": RDBStorage(storage_url(tracking_uri)), "study_name": study_name(sweep)}


def dashboard_hint(sweep: Any, tracking_uri: str) -> str:
    url = storage_url(tracking_uri)
    return f"Optuna study {study_name(sweep)!r} in {url}: `optuna-dashboard {url}` shows it"


def continue_study(study: dict[str, Any], seed: int, points: list[dict[str, Any]] | None,
                   rewards: list[float] | None) -> tuple[int, list[dict[str, Any]] | None, list[float] | None]:
    """The sampler seed and warm-start samples for a search whose study may already hold trials.

    - Seed: a new sampler with the sweep's seed replays the same random start-up draws, so a launch that continues
      a stored study (a resume, or a second launch of the same search) would run its first samples again. The seed
      is offset by the number of trials the study holds: still deterministic for a given history, never a replay.
    - Warm start: a resumed search hands Optuna its finished samples; those the study already holds as COMPLETE
      trials are left out, since giving them again would add each a second time (the sampler would weigh them
      twice and the dashboard would show duplicates). A study that is gone or new (another
      ``$ORCHESTRATOR_OPTUNA_STORAGE``) gets all of them."""
    if not study:
        return seed, points, rewards
    import optuna
    from optuna.trial import TrialState

    try:
        stored = optuna.load_study(study_name=study["study_name"], storage=study["storage"])
    except KeyError:  # no study of that name yet
        return seed, points, rewards
    trials = stored.get_trials(deepcopy=False)
    seen = {_point_key(t.params) for t in trials if t.state == TrialState.COMPLETE}
    kept = [(p, r) for p, r in zip(points or [], rewards or []) if _point_key(p) not in seen]
    return seed + len(trials), [p for p, _ in kept] or None, [r for _, r in kept] or None


def _point_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)
