"""Published NOLA CSVs have the paper's shape; every NOLA table names sweeps that feed it."""
import pandas as pd
import pytest

from orchestrator.spec import SWEEPS_DIR, all_sweep_files, load_sweep
from results.spec import PUBLISHED_DIR, all_tables

SHAPES = {"nola-tableB.10.csv": (4, 3)}  # Table B.10: 4 methods × (# params, acc.) plus the key column


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_published_csv_parses_with_paper_shape(name):
    path = PUBLISHED_DIR / name
    assert path.read_text().startswith("# ")
    frame = pd.read_csv(path, comment="#")
    assert frame.shape == SHAPES[name]
    assert frame.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").notna().all().all()


def test_table_b10_values_as_printed():
    frame = pd.read_csv(PUBLISHED_DIR / "nola-tableB.10.csv", comment="#").set_index("method")
    assert frame.loc["nola", "trainable_params"] == 12876 and frame.loc["nola", "accuracy"] == 82.4
    assert frame.loc["full", "accuracy"] == 88.92


def test_tables_and_sweeps_are_consistent():
    tables = {k: v for k, v in all_tables().items() if k.startswith("nola-")}
    assert sum(t.quickstart for t in tables.values()) == 1
    for spec in tables.values():
        for rel in spec.sweeps:
            for scale in ("smoke", "mini", "paper"):
                sweep = load_sweep(SWEEPS_DIR / rel, scale)
                assert spec.id in sweep.reproduces
        if spec.published:
            frame = pd.read_csv(PUBLISHED_DIR / spec.published, comment="#")
            assert list(frame.columns[: len(spec.rows)]) == list(spec.rows)
            assert set(frame.columns[len(spec.rows):]) <= set(spec.metrics)
    fed = {t for spec in tables.values() for t in spec.sweeps}
    ours = {p.relative_to(SWEEPS_DIR).as_posix() for p in all_sweep_files() if p.parent.name == "nola"}
    assert ours == fed, "every NOLA sweep feeds a table and every table's sweep exists"


def test_subspace_figure_draws(tmp_path):
    from results.tables.nola import plot_subspace

    frame = pd.DataFrame({"subspace_d": ["4", "4"], "subspace_n": ["8", "16"], "pranc_rank_mean": [8.0, 16.0],
                          "nola_rank_mean": [16.0, 16.0], "n": [1, 1]})
    plot_subspace(frame, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
