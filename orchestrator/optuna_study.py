"""Where an Optuna search keeps its study, so ``optuna-dashboard`` opens it and a later launch continues it.

One SQLite file beside the MLflow store (``optuna.db`` next to ``mlruns.db``; ``./optuna.db`` when MLflow
is a server), one study per sweep and scale (``<sweep name>-<scale>``). ``$ORCHESTRATOR_OPTUNA_STORAGE``
(any Optuna storage URL) overrides the file. Ray Tune's OptunaSearch loads an existing study of that name,
so a new launch of the same search adds to it instead of starting over.
"""
from __future__ import annotations

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
