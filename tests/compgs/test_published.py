import csv
from pathlib import Path

import pytest

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "published"

# (rows, columns including the key columns) of each transcribed paper table
SHAPES = {"compgs-table3.1.csv": (12, 13), "compgs-table3.2.csv": (12, 11), "compgs-table3.3.csv": (6, 13),
          "compgs-table3.6.csv": (2, 6), "compgs-table3.7.csv": (4, 5), "compgs-table3.8.csv": (10, 6),
          "compgs-table3.9.csv": (13, 6), "compgs-fig3.5.csv": (6, 5)}


def _rows(name):
    lines = (PUBLISHED / name).read_text().splitlines()
    return lines, list(csv.reader(line for line in lines if not line.startswith("#")))


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_published_csv_parses_with_paper_shape(name):
    lines, rows = _rows(name)
    assert lines[0].startswith("# CompGS, dissertation")
    header, body = rows[0], rows[1:]
    assert (len(body), len(header)) == SHAPES[name]
    assert all(len(r) == len(header) for r in body)


def test_headline_values_as_printed():
    _, rows = _rows("compgs-table3.1.csv")
    t1 = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert t1["compgs_32k"]["psnr"] == "27.12" and t1["3dgs"]["tandt/memory_mb"] == "433" and t1["cgs"]["fps"] == ""
    _, rows = _rows("compgs-table3.2.csv")
    t2 = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert t2["int8"]["psnr"] == "14.41" and t2["kmeans_4k_int16"]["mem"] == "1.0"
    _, rows = _rows("compgs-table3.8.csv")
    assert rows[-1] == ["5", "100", "32768", "0.806", "27.12", "42.4"]


def test_variants_of_published_rows_exist():
    from workloads.compgs.variants import VARIANTS

    for name in ("compgs-table3.2.csv", "compgs-table3.3.csv", "compgs-table3.9.csv"):
        _, rows = _rows(name)
        assert {r[0] for r in rows[1:]} <= set(VARIANTS), name
