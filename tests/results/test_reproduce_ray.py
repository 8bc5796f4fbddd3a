"""``reproduce`` runs a table's sweeps through real Ray Tune + MLflow, and a second call starts no trial."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import support.toy_workloads  # noqa: E402,F401  (registers the test-only toy_quadratic workload)

import results.render as render_mod  # noqa: E402
import results.reproduce as reproduce_mod  # noqa: E402
import results.spec as spec_mod  # noqa: E402
from results.render import MISSING  # noqa: E402
from results.spec import TableSpec  # noqa: E402

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.usefixtures("ray_session")]


def test_reproduce_skips_finished_trials(tmp_path, monkeypatch):
    sweep = tmp_path / "toy-table.yaml"
    sweep.write_text(textwrap.dedent("""
        name: results-toy-table
        workload: toy_quadratic
        reproduces: "toy-table1"
        params: {steps: 2}
        grid: {x: [0.0, 2.0]}
        seeds: [0, 1]
    """))
    spec = TableSpec(id="toy-table1", title="Toy Table 1", paper="PALM", sweeps=(str(sweep),), rows=("x",),
                     metrics=("objective",), fmt="{:.2f}")
    monkeypatch.setitem(spec_mod._TABLES, spec.id, spec)
    monkeypatch.setattr(render_mod, "OUT_DIR", tmp_path / "out")
    monkeypatch.setattr(reproduce_mod, "OUT_DIR", tmp_path / "out")
    real_write = reproduce_mod.write_report
    monkeypatch.setattr(reproduce_mod, "write_report", lambda r, s: real_write(r, s, out_dir=tmp_path / "out"))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    kw = dict(tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)

    first, rendered = reproduce_mod.reproduce(["toy-table1"], "smoke", **kw)
    assert [(r.n_trials, r.n_skipped, r.n_failed) for r in first] == [(4, 0, 0)]
    frame = rendered[0].frame.set_index("x")
    # toy objective = (x - 2)^2 + 1 + 0.01 * seed; seeds 0 and 1 -> mean +0.005, std 0.00707
    assert frame.loc["0.0", "objective"].startswith("5.00 ± 0.01") and frame.loc["0.0", "n"] == "2"
    assert frame.loc["2.0", "objective"].startswith("1.00 ± 0.01")
    assert MISSING not in frame.to_numpy()
    assert (tmp_path / "out" / "report.md").is_file()
    assert "<table>" in (tmp_path / "out" / "report.html").read_text()
    # the parent run carries the rendered table and the per-config aggregates
    import mlflow

    parent = mlflow.search_runs(experiment_names=["results-toy-table"],
                                filter_string="tags.`orchestrator.role` = 'parent'")["run_id"].iloc[0]
    client = mlflow.MlflowClient(uri)
    assert {a.path for a in client.list_artifacts(parent, "tables")} == {"tables/toy-table1.md", "tables/toy-table1.csv"}
    aggregates = client.download_artifacts(parent, "aggregates.csv", str(tmp_path))
    import pandas as pd

    agg = pd.read_csv(aggregates).set_index("x")
    assert agg.loc[0.0, "objective_mean"] == pytest.approx(5.005) and agg.loc[0.0, "n"] == 2

    second, _ = reproduce_mod.reproduce(["toy-table1"], "smoke", **kw)
    assert [(r.n_trials, r.n_skipped) for r in second] == [(0, 4)]
