"""The finished trial runs of a local SQLite MLflow store, read with ``sqlite3`` for ``orchestrator list``.

Counting a table's finished trials through mlflow cost ~2 s of imports and store set-up before the first
query, which alone broke ``list``'s 2 s budget (issue 16.12). The status needs only a few columns of the
runs ``results.render.fetch_runs`` would select (finished trial runs whose summary is logged), so a SQLite
store is read directly, into frames shaped like ``mlflow.search_runs``'s (``run_id``, ``start_time``,
``tags.*``, ``params.*``) that ``fetch_runs`` takes as its cache. Any other store, or a database this
does not recognise as MLflow's (``None``), is read through mlflow as before.
"""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Iterable

# What fetch_runs asks MLflow for: tags.`orchestrator.role` = 'trial' and attributes.status = 'FINISHED' and
# tags.`orchestrator.summary` = 'logged' (orchestrator.tracking's ROLE_TAG / SUMMARY_TAG), active runs only.
FINISHED_TRIALS = """
    SELECT r.run_uuid, e.name, r.start_time FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id
    WHERE r.status = 'FINISHED' AND r.lifecycle_stage = 'active'
      AND r.run_uuid IN (SELECT run_uuid FROM tags WHERE key = 'orchestrator.role' AND value = 'trial')
      AND r.run_uuid IN (SELECT run_uuid FROM tags WHERE key = 'orchestrator.summary' AND value = 'logged')
"""
# The tags the status reads (latest_per_trial's keys and the scale); params: the tables' filters.
TAG_KEYS = ("scale", "config_hash", "seed", "orchestrator.role", "orchestrator.summary")


def sqlite_runs(db: Path, experiment_names: Iterable[str], param_keys: Iterable[str] = ()) -> dict | None:
    """``{experiment name: DataFrame of its finished trial runs}`` for every name (empty frames for the
    experiments the store lacks), or ``None`` when ``db`` cannot be read as an MLflow store."""
    import pandas as pd

    names = set(experiment_names)
    param_keys = tuple(dict.fromkeys(param_keys))
    try:
        con = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        runs = [row for row in con.execute(FINISHED_TRIALS) if row[1] in names]
        ids = [row[0] for row in runs]
        values: dict[str, dict[str, str]] = defaultdict(dict)
        for table, prefix, keys in (("tags", "tags.", TAG_KEYS), ("params", "params.", tuple(param_keys))):
            if not keys:
                continue
            for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
                chunk = ids[start:start + 500]
                query = (f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({','.join('?' * len(chunk))})"
                         f" AND key IN ({','.join('?' * len(keys))})")
                for run_id, key, value in con.execute(query, [*chunk, *keys]):
                    values[run_id][prefix + key] = value
    except sqlite3.Error:  # not MLflow's schema (or locked past the timeout): mlflow reads it instead
        return None
    finally:
        con.close()
    rows: dict[str, list[dict]] = defaultdict(list)
    for run_id, name, start_time in runs:
        rows[name].append({"run_id": run_id, "start_time": start_time, **values[run_id]})
    # Every column present, as when some run has it: fetch_runs selects on them.
    columns = ["run_id", "start_time", *(f"tags.{k}" for k in TAG_KEYS), *(f"params.{k}" for k in param_keys)]
    return {name: pd.DataFrame(rows[name], columns=columns) if rows[name] else pd.DataFrame() for name in names}
