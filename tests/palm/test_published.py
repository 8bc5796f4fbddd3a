"""The transcribed PALM tables parse and have the paper's shape."""
import pytest

from results.render import read_published
from results.spec import get_table

SHAPES = {  # (rows, columns incl. key columns) as printed in the paper
    "palm-table1": (10, 1 + 16), "palm-table2": (9, 1 + 16), "palm-table3": (10, 1 + 16),
    "palm-table4": (3, 1 + 8), "palm-table5": (6, 3), "palm-table6": (3, 1 + 4), "palm-table7": (3, 1 + 2),
    "palm-table8": (3, 1 + 6),
}


@pytest.mark.parametrize("table_id", sorted(SHAPES))
def test_published_shape(table_id):
    spec = get_table(table_id)
    df = read_published(spec)
    assert df.shape == SHAPES[table_id]
    assert list(df.columns[: len(spec.rows)]) == list(spec.rows)


def test_table1_values_spot_check():
    df = read_published(get_table("palm-table1")).set_index("method")
    assert df.loc["palm", "mean_error"] == 15.5 and df.loc["source", "error_gaussian_noise"] == 72.3
    assert df.loc["tent", "error_jpeg_compression"] == 24.9
