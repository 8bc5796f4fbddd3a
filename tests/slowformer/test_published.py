"""The transcribed SlowFormer tables parse and have the paper's shape."""
import pytest

from results.render import read_published
from results.spec import get_table

SHAPES = {  # (rows, key columns + metric columns) as printed in the dissertation
    "slowformer-table4.1": (36, 3 + 3), "slowformer-table4.2": (5, 2 + 3), "slowformer-table4.3": (5, 2 + 3),
    "slowformer-table4.4": (12, 2 + 3), "slowformer-table4.5": (17, 3 + 3), "slowformer-table4.6": (3, 2 + 3),
}


@pytest.mark.parametrize("table_id", sorted(SHAPES))
def test_published_shape(table_id):
    spec = get_table(table_id)
    df = read_published(spec)
    assert df.shape == SHAPES[table_id]
    assert list(df.columns[: len(spec.rows)]) == list(spec.rows)


def test_spot_values():
    t4 = read_published(get_table("slowformer-table4.4")).set_index(["arch", "patch_size"])
    assert t4.loc[("deit_tiny_patch16_224", "32"), "attack_success"] == 90
    assert t4.loc[("deit_small_patch16_224", "16"), "top1"] == 78.2
    t1 = read_published(get_table("slowformer-table4.1")).set_index(["method", "arch", "attack"])
    assert t1.loc[("ats", "deit_base_patch16_224", "slowformer"), "gflops"] == 15.4
    assert t1.loc[("adavit", "deit_small_patch16_224", "ntap"), "attack_success"] == -4


def test_exactly_one_quickstart_table_and_sweeps_exist():
    from results.spec import all_tables
    from results.render import sweep_name

    mine = {k: v for k, v in all_tables().items() if k.startswith("slowformer-")}
    assert [k for k, v in mine.items() if v.quickstart] == ["slowformer-table4.4"]
    for spec in mine.values():
        for s in spec.sweeps:
            assert sweep_name(s).startswith("slowformer-")
