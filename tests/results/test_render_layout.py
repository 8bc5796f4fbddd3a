"""How a table reads (issue 16 item 7-9): paper-only rows, no looping hint, wide tables transposed with
the headline first, CSV as numbers, LaTeX that pdflatex compiles, HTML report that accumulates."""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import support.toy_workloads  # noqa: E402,F401  (toy_quadratic: a sweep that loads, so rows are known)

import results.render as render_mod  # noqa: E402
import results.spec as spec_mod  # noqa: E402
from results.formats import latex_document, tex_escape, to_html  # noqa: E402
from results.render import MISSING, PAPER_ONLY, WIDE_MAX, render, to_text  # noqa: E402
from results.report import write_report  # noqa: E402
from results.spec import TableSpec  # noqa: E402


def runs_frame(points):
    """``mlflow.search_runs`` layout for finished toy runs: (x, seed, {metric: value})."""
    rows = []
    for x, seed, metrics in points:
        rec = {"params.x": str(x), "params.seed": str(seed), "tags.seed": str(seed), "tags.scale": "mini"}
        rec.update({f"metrics.{k}": v for k, v in metrics.items()})
        rows.append(rec)
    return pd.DataFrame(rows)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    sweep = tmp_path / "toy.yaml"
    sweep.write_text("name: layout-toy\nworkload: toy_quadratic\ngrid: {x: [0.0, 2.0]}\nseeds: [0, 1]\n")
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "toy.csv").write_text(textwrap.dedent("""\
        # Toy paper, Table 9
        x,objective
        0.0,4.5
        2.0,1.5
        7.0,26.0
        """))
    monkeypatch.setattr(render_mod, "PUBLISHED_DIR", pub)
    monkeypatch.setattr(render_mod, "OUT_DIR", tmp_path / "out")
    return sweep


def spec_for(sweep, **kw):
    base = dict(id="toy-layout", title="Toy Table 9: objective (α → 0, ±)", paper="PALM", sweeps=(str(sweep),),
                rows=("x",), metrics=("objective",), fmt="{:.2f}", published="toy.csv")
    base.update(kw)
    return TableSpec(**base)


def test_paper_only_rows_are_marked_and_never_missing(toy):
    runs = runs_frame([(0.0, 0, {"objective": 5.0}), (0.0, 1, {"objective": 5.01})])
    r = render(spec_for(toy), "mini", runs=runs)
    t = r.frame.set_index("x")
    assert t.loc["7.0", "n"] == PAPER_ONLY and t.loc["7.0", "objective (ours)"] == MISSING
    assert t.loc["0.0", "n"] == "2" and t.loc["0.0", "objective (ours)"] == "5.00 ± 0.01"
    # x=2.0 is in the sweep but has no run yet: the one missing cell, and the hint names the command
    assert t.loc["2.0", "objective (ours)"] == MISSING and r.missing_cells == 1
    assert "orchestrator reproduce toy-layout --scale mini" in r.footer() and r.paper_only_rows == 1
    # once every producible cell has a run, the hint is gone even though x=7.0 stays empty
    runs = runs_frame([(0.0, 0, {"objective": 5.0}), (2.0, 0, {"objective": 1.0})])
    r = render(spec_for(toy), "mini", runs=runs)
    assert r.missing_cells == 0 and "orchestrator reproduce" not in r.footer()


def test_delta_only_at_paper_scale(toy):
    runs = runs_frame([(0.0, 0, {"objective": 5.0})])
    assert "objective (Δ)" not in render(spec_for(toy), "mini", runs=runs).frame.columns
    paper = render(spec_for(toy), "paper", runs=runs.assign(**{"tags.scale": "paper"}))
    assert paper.frame.set_index("x").loc["0.0", "objective (Δ)"] == "+0.50"  # 5.00 - 4.5


def test_wide_table_is_transposed_with_the_headline_first(toy):
    metrics = tuple(f"err_{i}" for i in range(WIDE_MAX + 1)) + ("mean_err",)
    vals = {m: float(i) for i, m in enumerate(metrics)}
    runs = runs_frame([(0.0, 0, vals), (2.0, 0, vals)])
    r = render(spec_for(toy, metrics=metrics, published=None), "mini", runs=runs)
    assert len(r.blocks) == 2
    head, details = r.blocks
    # headline block: only mean_err (a `mean*` metric is the default headline), one column
    assert list(head.frame.columns) == ["x", "n", "mean_err"] and list(head.frame["mean_err"]) == [f"{WIDE_MAX + 1}.00"] * 2
    # details: transposed, one row per other metric, one column per table row
    assert details.transposed and list(details.frame.columns) == ["metric", "0.0", "2.0"]
    assert list(details.frame["metric"]) == ["n", *metrics[:-1]]
    assert details.frame.set_index("metric").loc["err_3", "2.0"] == "3.00"


def test_csv_cells_are_numbers(toy):
    runs = runs_frame([(0.0, 0, {"objective": 5.0}), (0.0, 1, {"objective": 5.02})])
    csv = pd.read_csv(io.StringIO(to_text(render(spec_for(toy), "mini", runs=runs), "csv")))
    row = csv[csv["x"] == 0.0].iloc[0]
    assert row["mean"] == pytest.approx(5.01) and row["std"] == pytest.approx(0.014, abs=1e-3)
    assert row["n"] == 2 and row["paper"] == 4.5 and "delta" not in csv.columns
    assert csv[csv["x"] == 7.0].iloc[0]["status"] == PAPER_ONLY


def test_tex_escape():
    assert tex_escape("a_b 50% ± Δ α→β") == r"a\_b 50\% $\pm$ $\Delta$ $\alpha$$\rightarrow$$\beta$"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_export_compiles(toy, tmp_path):
    metrics = tuple(f"err_{i}" for i in range(WIDE_MAX + 1)) + ("mean_err",)
    runs = runs_frame([(0.0, 0, {"objective": 5.0}), (0.0, 1, {"objective": 5.2})])
    wide = runs_frame([(0.0, 0, {m: 1.0 for m in metrics})])
    bodies = [to_text(render(spec_for(toy), "paper", runs=runs.assign(**{"tags.scale": "paper"})), "latex"),
              to_text(render(spec_for(toy, metrics=metrics, published=None), "mini", runs=wide), "latex")]
    assert r"\multicolumn{3}{c}{objective}" in bodies[0] and r"$\pm$" in bodies[0]
    tex = tmp_path / "tables.tex"
    tex.write_text(latex_document(bodies))
    out = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 1000


def test_report_accumulates_and_has_html(toy, tmp_path, monkeypatch):
    a, b = spec_for(toy), spec_for(toy, id="toy-other", title="Other toy table")
    monkeypatch.setitem(spec_mod._TABLES, a.id, a)
    monkeypatch.setitem(spec_mod._TABLES, b.id, b)
    out = tmp_path / "report"
    runs = runs_frame([(0.0, 0, {"objective": 5.0})])
    write_report([render(a, "mini", runs=runs)], "mini", out_dir=out)
    md = write_report([render(b, "mini", runs=runs)], "mini", out_dir=out).read_text()
    assert "Toy Table 9" in md and "Other toy table" in md  # the second call kept the first table
    page = (out / "report.html").read_text()
    assert page.count("<section") == 2 and '<th colspan="2" class="group">objective</th>' in page
    assert "paper only" in to_html(render(a, "mini", runs=runs))
