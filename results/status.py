"""Table status for ``orchestrator list``: runnable, partially run, complete at a scale."""
from __future__ import annotations

from results.spec import TableSpec, all_tables

SCALES = ("smoke", "mini", "paper")


def expected_trials(spec: TableSpec, scale: str) -> int:
    from orchestrator.spec import SWEEPS_DIR, load_sweep

    total = 0
    for rel in spec.sweeps:
        sweep = load_sweep(SWEEPS_DIR / rel, scale)
        total += sweep.search.num_samples if sweep.search else len(sweep.trials())
    return total


def table_status(spec: TableSpec, tracking_uri: str | None = None, cache: dict | None = None) -> str:
    """``cache``: see ``fetch_runs``; ``False`` when the store does not exist yet (nothing has run)."""
    if cache is not False:  # reading runs needs pandas and mlflow; with no store there is nothing to read
        from results.render import fetch_runs
    parts = []
    for scale in SCALES:
        try:
            want = expected_trials(spec, scale)
            have = 0 if cache is False else len(fetch_runs(spec, scale, tracking_uri, cache=cache))
        except Exception as exc:  # an invalid sweep must not hide the other tables
            return f"invalid: {str(exc).splitlines()[0][:80]}"
        if have >= want > 0:
            parts.append(f"complete at {scale}")
        elif have:
            parts.append(f"partially run at {scale} ({have}/{want})")
    if parts:
        return "; ".join(parts)
    from results.producible import scale_produces

    return "runnable" if any(scale_produces(spec, scale) for scale in SCALES) else "paper only"


def _store_exists(tracking_uri: str | None) -> bool:
    from pathlib import Path

    from orchestrator.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    return not uri.startswith("sqlite:///") or Path(uri[len("sqlite:///"):]).is_file()


def _absent_experiments(tracking_uri: str | None) -> dict:
    """A ``fetch_runs`` cache that already knows every table sweep whose experiment the store lacks: one
    listing of the store's experiments instead of one look-up per sweep."""
    import pandas as pd
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    from orchestrator.tracking import resolve_tracking_uri
    from results.render import sweep_name

    client = MlflowClient(resolve_tracking_uri(tracking_uri))
    known: set[str] = set()
    token = None
    while True:
        page = client.search_experiments(view_type=ViewType.ALL, page_token=token)
        known.update(e.name for e in page)
        token = page.token
        if not token:
            break
    cache: dict = {}
    for spec in all_tables().values():
        for rel in spec.sweeps:
            try:
                name = sweep_name(rel)
            except Exception:  # a missing or invalid sweep: its table reports it
                continue
            if name not in known:
                cache[name] = pd.DataFrame()
    return cache


def _prefetched(tracking_uri: str | None) -> dict:
    """A ``fetch_runs`` cache holding every table sweep's runs: read from a SQLite store directly
    (``results.store_runs``: no mlflow import), else the experiments the store lacks (one listing)."""
    from orchestrator.store_preflight import sqlite_path
    from orchestrator.tracking import resolve_tracking_uri
    from results.render import sweep_name
    from results.store_runs import sqlite_runs

    specs = list(all_tables().values())
    names = set()
    for spec in specs:
        for rel in spec.sweeps:
            try:
                names.add(sweep_name(rel))
            except Exception:  # a missing or invalid sweep: its table reports it
                continue
    db = sqlite_path(resolve_tracking_uri(tracking_uri))
    runs = sqlite_runs(db, names, [k for spec in specs for k in spec.filters]) if db is not None else None
    return runs if runs is not None else _absent_experiments(tracking_uri)


def status_rows(tracking_uri: str | None = None) -> list[tuple[str, str, str, str]]:
    # One query per experiment for all tables and scales; no store yet: nothing ran, and `list` must not
    # create one (MLflow's schema creation alone takes seconds).
    cache: dict | bool = _prefetched(tracking_uri) if _store_exists(tracking_uri) else False
    return [(s.id, s.paper, "yes" if s.quickstart else "", table_status(s, tracking_uri, cache))
            for s in all_tables().values()]
