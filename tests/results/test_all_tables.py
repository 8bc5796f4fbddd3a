"""Every registered table renders from runs fabricated from its own sweeps; every published CSV parses.

Runs are fabricated from ``load_sweep(...).trials()`` (grids) so tables that engineers add later are
covered automatically. Search-only sweeps have no fixed points; their tables still render, with "—".
"""
from __future__ import annotations

import pandas as pd
import pytest

import results.render as render_mod
from orchestrator.context import RunEnv, recorded_params
from orchestrator.registry import build_config, get_workload
from orchestrator.spec import load_sweep
from results.render import MISSING, read_published, render
from results.spec import all_tables

TABLES = all_tables()


def fabricated_runs(spec, scale: str = "mini") -> pd.DataFrame:
    """One finished trial row per grid point × seed, in ``mlflow.search_runs``' pandas layout (params as strings)."""
    rows = []
    for rel in spec.sweeps:
        sweep = load_sweep(rel, scale)
        wl = get_workload(sweep.workload)
        for i, trial in enumerate(sweep.trials()):
            # the params a real run records: sentinels resolved, fields its method ignores left out
            params = {**recorded_params(build_config(wl, trial.params), RunEnv(scale)), "seed": trial.seed}
            if any(str(params.get(k)) != str(v) for k, v in spec.filters.items()):
                continue
            rec = {f"params.{k}": str(v) for k, v in params.items()}
            rec["tags.seed"] = str(trial.seed)
            rec["tags.scale"] = scale
            rec["status"] = "FINISHED"
            for j, m in enumerate(spec.metrics):
                rec[f"metrics.{m}"] = float(10 * j + i % 7 + trial.seed)
            rows.append(rec)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("table_id", sorted(TABLES))
def test_every_table_renders_from_fabricated_runs(table_id, tmp_path, monkeypatch):
    monkeypatch.setattr(render_mod, "OUT_DIR", tmp_path)
    spec = TABLES[table_id]
    runs = fabricated_runs(spec)
    r = render(spec, "mini", runs=runs)
    keys = set(spec.rows) | set(spec.columns)
    runs_have_keys = not runs.empty and all(f"params.{k}" in runs or k == "seed" for k in keys)
    if runs_have_keys:
        # every fabricated run lands in exactly one aggregated cell: the n's add up to the runs
        assert int(r.numbers["n"].sum()) == len(runs)
        assert any(v != MISSING for v in r.ours_values()), f"{table_id}: no cell filled from its own sweep's runs"
        # every row the sweep runs is producible: nothing it ran is marked paper-only or missing
        ran = r.cells[r.cells["n"] > 0]
        assert (ran["status"] != "paper only").all() and r.missing_cells == 0, table_id
        if spec.kind == "figure" and spec.plot is not None:
            assert r.png is not None and r.png.is_file() and r.png.stat().st_size > 0
    else:
        # no run to fabricate: cells to fill, nothing at all, or a table whose every row is paper only
        assert r.missing_cells > 0 or r.frame.empty or r.paper_only_rows == len(r.frame)


@pytest.mark.parametrize("table_id", sorted(t for t, s in TABLES.items() if s.published))
def test_published_csv_parses_and_keys_match_rows(table_id):
    spec = TABLES[table_id]
    pub = read_published(spec)
    assert pub is not None and len(pub) > 0
    assert list(pub.columns[: len(spec.rows)]) == list(spec.rows), f"{spec.published}: key columns != rows"
    values = pub[[c for c in pub.columns if c not in spec.rows]]
    assert values.notna().to_numpy().any(), f"{spec.published}: no number parsed"
    text = (render_mod.PUBLISHED_DIR / spec.published).read_text()
    assert text.lstrip().startswith("#"), f"{spec.published}: must start with a # comment citing the table"


def test_quickstart_has_at_most_one_headline_per_paper():
    papers = [s.paper for s in TABLES.values() if s.quickstart]
    assert len(papers) == len(set(papers)), papers
