"""`orchestrator list`'s scales column (issue 19 item 3): which scales fill a table's cells, read without torch."""
import subprocess
import sys

from results.producible import producing_scales
from results.spec import TableSpec, get_table


def test_paper_only_tables_have_no_scale():
    # VOC detection is outside the workloads: the filter dataset=voc matches no trial at any scale
    assert producing_scales(get_table("simreg-table2.12")) == []


def test_a_filter_on_a_resolved_value_limits_the_scales():
    # ImageNet-100 from scratch: the MLP runs (arch auto -> mlp at smoke, mlp at mini) stand in; paper runs ResNet20
    assert producing_scales(get_table("nola-tableB.11")) == ["smoke", "mini"]
    assert producing_scales(get_table("nola-table3.14")) == ["smoke", "mini", "paper"]


def test_filters_read_from_the_sweep_grid():
    base = get_table("nola-tableB.10")
    only_paper = TableSpec(id="t-paper", title="t", paper="NOLA", sweeps=base.sweeps, rows=base.rows,
                           metrics=base.metrics, filters={"arch": "resnet20"})
    assert producing_scales(only_paper) == ["paper"]
    nothing = TableSpec(id="t-none", title="t", paper="NOLA", sweeps=base.sweeps, rows=base.rows,
                        metrics=base.metrics, filters={"method": "hashednet"})
    assert producing_scales(nothing) == []


def test_list_tables_shows_scales_without_importing_torch(tmp_path):
    code = ("import sys, io; from rich.console import Console; from results.cli import list_tables; "
            f"t = list_tables(tracking_uri='sqlite:///{tmp_path}/none.db'); "
            "c = Console(file=io.StringIO(), width=250); c.print(t); out = c.file.getvalue(); "
            "assert 'scales' in out and 'paper only' in out, out[:500]; "
            "assert 'torch' not in sys.modules, 'list imported torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
