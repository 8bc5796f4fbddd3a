"""Rendering from a temporary MLflow store filled with fabricated runs (tests only)."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import results.render as render_mod
from results.render import MISSING, aggregate, render, to_text
from results.spec import TableSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import support.toy_workloads  # noqa: E402,F401  (test-only toy_quadratic workload for sweeps that status loads)


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    mlflow.set_tracking_uri(uri)
    sweep = tmp_path / "fab.yaml"
    sweep.write_text("name: fab-sweep\nworkload: toy\n")
    pub = tmp_path / "pub"
    pub.mkdir()
    monkeypatch.setattr(render_mod, "PUBLISHED_DIR", pub)
    return uri, sweep, pub


def add_run(uri, exp, params, metrics, scale="mini", status="FINISHED", role="trial", summary=True, config_hash=None):
    """A run as orchestrator.tracking records one (summary tag once the summary metrics are logged)."""
    c = MlflowClient(uri)
    e = c.get_experiment_by_name(exp)
    eid = e.experiment_id if e else c.create_experiment(exp)
    tags = {"orchestrator.role": role, "scale": scale, "seed": str(params.get("seed", 0))}
    if summary:
        tags["orchestrator.summary"] = "logged"
    if config_hash:
        tags["config_hash"] = config_hash
    r = c.create_run(eid, tags=tags)
    for k, v in params.items():
        c.log_param(r.info.run_id, k, v)
    for k, v in metrics.items():
        c.log_metric(r.info.run_id, k, v)
    c.set_terminated(r.info.run_id, status)


def spec_for(sweep, **kw):
    base = dict(id="fab-table1", title="Fab Table 1", paper="PALM", sweeps=(str(sweep),), rows=("method",),
                metrics=("err",), fmt="{:.1f}")
    base.update(kw)
    return TableSpec(**base)


def test_mean_std_n_and_missing_cells(store):
    uri, sweep, _ = store
    for seed, err in enumerate([10.0, 12.0, 14.0]):
        add_run(uri, "fab-sweep", {"method": "palm", "seed": seed}, {"err": err, "aux": 1.0})
    add_run(uri, "fab-sweep", {"method": "tent", "seed": 0}, {"aux": 2.0})             # no `err`: cell is —
    add_run(uri, "fab-sweep", {"method": "cotta", "seed": 0}, {"err": 99.0}, status="FAILED")  # never counted
    add_run(uri, "fab-sweep", {"method": "source", "seed": 0}, {"err": 50.0}, scale="smoke")  # other scale
    r = render(spec_for(sweep), "mini", uri)
    rows = {row["method"]: (row["err"], row["n"]) for _, row in r.frame.iterrows()}
    # n in its own column, not on every cell; tent finished without `err`: its cell is —, not a missing run
    assert rows == {"palm": ("12.0 ± 2.0", "3"), "tent": (MISSING, "1")}
    assert r.missing_cells == 0 and "orchestrator reproduce" not in r.footer()
    smoke = render(spec_for(sweep), "smoke", uri)
    assert dict(zip(smoke.frame["method"], smoke.frame["err"])) == {"source": "50.0"}


def test_columns_and_filters(store):
    uri, sweep, _ = store
    for ds in ("c10", "c100"):
        for method, base in (("palm", 10.0), ("tent", 20.0)):
            add_run(uri, "fab-sweep", {"method": method, "dataset": ds, "lr": 0.1}, {"err": base + (ds == "c100")})
    add_run(uri, "fab-sweep", {"method": "palm", "dataset": "c10", "lr": 0.5}, {"err": 77.0})
    spec = spec_for(sweep, columns=("dataset",), filters={"lr": 0.1})
    r = render(spec, "mini", uri)
    table = r.frame.set_index("method")
    assert table.loc["palm", "c10"] == "10.0" and table.loc["tent", "c100"] == "21.0"
    assert list(table["n"]) == ["1", "1"]


def test_published_side_by_side_with_difference(store):
    uri, sweep, pub = store
    (pub / "fab.csv").write_text(textwrap.dedent("""\
        # Fab paper, Table 1 (transcribed)
        method,err
        palm,11.5
        source,43.5
        """))
    add_run(uri, "fab-sweep", {"method": "palm"}, {"err": 12.0})
    r = render(spec_for(sweep, published="fab.csv"), "mini", uri)
    t = r.frame.set_index("method")
    # below paper scale: ours and paper side by side, no Δ (the scales run other data and models)
    assert list(t.columns) == ["n", "err (ours)", "err (paper)"]
    assert t.loc["palm", "err (ours)"] == "12.0" and t.loc["palm", "err (paper)"] == "11.5"
    assert t.loc["source", "err (ours)"] == MISSING and t.loc["source", "err (paper)"] == "43.5"
    # `source` cannot be produced here (the fabricated sweep does not load): it counts as missing
    assert r.missing_cells == 1 and "orchestrator reproduce fab-table1 --scale mini" in r.footer()
    md = to_text(r, "md")
    assert "| method | n | err (ours) | err (paper) |" in md and "ours at mini scale" in md
    assert "palm,err,err,12.0,,1,11.5,ok" in to_text(r, "csv")
    assert "\\begin{tabular}" in to_text(r, "latex")
    add_run(uri, "fab-sweep", {"method": "palm"}, {"err": 12.0}, scale="paper")
    t = render(spec_for(sweep, published="fab.csv"), "paper", uri).frame.set_index("method")
    assert t.loc["palm", "err (Δ)"] == "+0.5" and t.loc["source", "err (Δ)"] == MISSING


def test_figure_png(store, tmp_path, monkeypatch):
    uri, sweep, _ = store
    monkeypatch.setattr(render_mod, "OUT_DIR", tmp_path / "out")
    for a in (0.1, 0.5, 0.9):
        add_run(uri, "fab-sweep", {"method": "palm", "alpha": a}, {"err": 10 + a})
    seen = {}

    def plot(frame: pd.DataFrame, png):
        import matplotlib.pyplot as plt

        seen["frame"] = frame
        fig, ax = plt.subplots()
        ax.plot(frame["alpha"].astype(float), frame["err_mean"])
        fig.savefig(png)
        plt.close(fig)

    r = render(spec_for(sweep, rows=("alpha",), kind="figure", plot=plot), "mini", uri)
    assert r.png is not None and r.png.stat().st_size > 1000
    assert sorted(seen["frame"]["err_mean"]) == pytest.approx([10.1, 10.5, 10.9])


def test_aggregate_empty():
    spec = TableSpec(id="x", title="x", paper="PALM", sweeps=("a.yaml",), rows=("m",), metrics=("e",))
    assert aggregate(spec, pd.DataFrame()).empty


def test_status_counts_expected_vs_finished_trials(store, tmp_path):
    from results.status import expected_trials, table_status

    uri, _, _ = store
    sweep = tmp_path / "status.yaml"
    sweep.write_text("name: status-sweep\nworkload: toy_quadratic\ngrid: {x: [0.0, 2.0]}\nseeds: [0]\n")
    spec = TableSpec(id="status-table", title="Status", paper="PALM", sweeps=(str(sweep),), rows=("x",),
                     metrics=("objective",))
    assert expected_trials(spec, "mini") == 2
    assert table_status(spec, uri) == "runnable"
    add_run(uri, "status-sweep", {"x": 0.0, "seed": 0}, {"objective": 5.0})
    assert table_status(spec, uri) == "partially run at mini (1/2)"
    add_run(uri, "status-sweep", {"x": 2.0, "seed": 0}, {"objective": 1.0})
    assert table_status(spec, uri) == "complete at mini"
    assert table_status(spec, uri, cache={}) == "complete at mini"  # one query per experiment, same answer
    assert table_status(spec, uri, cache=False) == "runnable"  # no store yet: nothing ran


def test_a_table_no_sweep_produces_is_paper_only(tmp_path):
    """Status: a table without sweeps (CMSF A.4, video) or whose filter no trial meets is "paper only", and it
    renders every published row as such, with no missing-cell hint to run it."""
    from results.render import render
    from results.spec import get_table
    from results.status import table_status

    for table_id in ("cmsf-tableA.4", "simreg-table2.12"):
        assert table_status(get_table(table_id), cache=False) == "paper only"
    rendered = render(get_table("cmsf-tableA.4"), "smoke", tracking_uri=f"sqlite:///{tmp_path}/m.db")
    assert rendered.paper_only_rows == 8 and rendered.missing_cells == 0
    assert "orchestrator reproduce" not in rendered.footer()
