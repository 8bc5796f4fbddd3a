"""Table status for ``orchestrator list``: runnable, partially run, complete at a scale."""
from __future__ import annotations

from results.render import fetch_runs
from results.spec import TableSpec, all_tables

SCALES = ("smoke", "mini", "paper")


def expected_trials(spec: TableSpec, scale: str) -> int:
    from orchestrator.spec import SWEEPS_DIR, load_sweep

    total = 0
    for rel in spec.sweeps:
        sweep = load_sweep(SWEEPS_DIR / rel, scale)
        total += sweep.search.num_samples if sweep.search else len(sweep.trials())
    return total


def table_status(spec: TableSpec, tracking_uri: str | None = None) -> str:
    parts = []
    for scale in SCALES:
        try:
            want = expected_trials(spec, scale)
            have = len(fetch_runs(spec, scale, tracking_uri))
        except Exception as exc:  # an invalid sweep must not hide the other tables
            return f"invalid: {str(exc).splitlines()[0][:80]}"
        if have >= want > 0:
            parts.append(f"complete at {scale}")
        elif have:
            parts.append(f"partially run at {scale} ({have}/{want})")
    return "; ".join(parts) or "runnable"


def status_rows(tracking_uri: str | None = None) -> list[tuple[str, str, str, str]]:
    return [(s.id, s.paper, "yes" if s.quickstart else "", table_status(s, tracking_uri)) for s in all_tables().values()]
