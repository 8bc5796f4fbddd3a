"""Published CSVs parse with the shape of the transcribed tables; every table names existing sweeps."""
from __future__ import annotations

import pandas as pd
import pytest

from orchestrator.spec import SWEEPS_DIR, load_sweep
from results.spec import PUBLISHED_DIR, all_tables

SHAPES = {  # file: (rows, columns) of the transcribed part of the paper's table
    "cmsf-table2.1.csv": (2, 3), "cmsf-table2.5.csv": (4, 3), "cmsf-table2.6.csv": (2, 2), "cmsf-tableA.2.csv": (4, 3),
    "simreg-table2.7.csv": (3, 5), "simreg-table2.8.csv": (1, 9), "simreg-table2.9.csv": (3, 3),
    "simreg-table2.13.csv": (5, 4),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_published_csv_parses_with_paper_shape(name):
    path = PUBLISHED_DIR / name
    assert path.read_text().startswith("# "), "first line must cite the table"
    frame = pd.read_csv(path, comment="#")
    assert frame.shape == SHAPES[name]
    numeric = frame.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    assert numeric.notna().all().all()


def test_every_cmsf_simreg_table_has_existing_sweeps_and_keys():
    tables = {k: v for k, v in all_tables().items() if k.startswith(("cmsf-", "simreg-"))}
    assert sum(t.quickstart for t in tables.values()) == 1
    for spec in tables.values():
        for rel in spec.sweeps:
            sweep = load_sweep(SWEEPS_DIR / rel, "smoke")
            assert spec.id in sweep.reproduces, f"{rel} does not name {spec.id} in reproduces:"
        if spec.published:
            frame = pd.read_csv(PUBLISHED_DIR / spec.published, comment="#")
            assert list(frame.columns[: len(spec.rows)]) == list(spec.rows)
            assert set(frame.columns[len(spec.rows):]) <= set(spec.metrics)


def test_noise_figure_draws_from_an_aggregated_frame(tmp_path):
    from results.tables.cmsf import plot_noise_curve

    frame = pd.DataFrame({"top_all": ["False", "False", "True", "True"], "label_noise": ["0.0", "0.5", "0.0", "0.5"],
                          "linear_mean": [90.0, 80.0, 89.0, 60.0], "linear_std": [1.0, None, 0.5, 2.0], "n": [1, 1, 1, 1]})
    png = tmp_path / "fig.png"
    plot_noise_curve(frame, png)
    assert png.stat().st_size > 1000
