import csv
from pathlib import Path

import pytest

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "published"

# (rows, columns including the row-key column) of each transcribed paper table
SHAPES = {"compgs-table1.csv": (12, 13), "compgs-table6.csv": (2, 5), "compgs-table7.csv": (4, 5)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_published_csv_parses_with_paper_shape(name):
    lines = (PUBLISHED / name).read_text().splitlines()
    assert lines[0].startswith("# CompGS, dissertation Table")
    rows = list(csv.reader(line for line in lines if not line.startswith("#")))
    header, body = rows[0], rows[1:]
    assert (len(body), len(header)) == SHAPES[name]
    assert all(len(r) == len(header) for r in body)


def test_table1_headline_values():
    lines = (PUBLISHED / "compgs-table1.csv").read_text().splitlines()
    rows = {r["method"]: r for r in csv.DictReader(line for line in lines if not line.startswith("#"))}
    assert rows["compgs_32k"]["mipnerf360/psnr"] == "27.12"
    assert rows["3dgs"]["tandt/memory_mb"] == "433"
    assert rows["cgs"]["mipnerf360/fps"] == ""
