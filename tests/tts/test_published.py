"""Published TTS numbers, table definitions and sweep files."""
import pandas as pd
import pytest

from results.render import read_published, sweep_name
from results.spec import all_tables, get_table

SWEEPS = ("tts/table1.yaml", "tts/fig4.yaml", "tts/lr_stream.yaml")


def test_table1_csv_has_the_papers_shape_and_values():
    spec = get_table("tts-table1")
    df = read_published(spec)
    assert df.shape == (10, 1 + 3)  # 4 fixed exits, 5 thresholds, baseline; latency, std, accuracy
    assert list(df.columns) == ["policy", "latency_ms", "latency_std_ms", "accuracy"]
    t = df.set_index("policy")
    assert t.loc["fixed:0", "latency_ms"] == 15.4 and t.loc["threshold:0.9", "accuracy"] == 80.9
    assert t.loc["baseline", "latency_std_ms"] == 0.6 and t.loc["threshold:0.7", "latency_std_ms"] == 16.9
    # the paper's reading: threshold 0.9 is within 1.2 points of the baseline at ~65 % of its latency
    assert t.loc["baseline", "accuracy"] - t.loc["threshold:0.9", "accuracy"] == pytest.approx(1.2)


def test_every_published_policy_is_a_grid_value_of_the_sweep():
    from orchestrator.spec import load_sweep

    df = read_published(get_table("tts-table1"))
    grid = load_sweep("sweeps/tts/table1.yaml", "paper").grid["policy"]
    assert sorted(df["policy"]) == sorted(grid)


def test_exactly_one_quickstart_table_and_its_sweeps_exist():
    mine = {k: v for k, v in all_tables().items() if k.startswith("tts-")}
    assert sorted(mine) == ["tts-fig4", "tts-lr-stream", "tts-table1"]
    assert [k for k, v in mine.items() if v.quickstart] == ["tts-table1"]
    for spec in mine.values():
        for s in spec.sweeps:
            assert sweep_name(s).startswith("tts-")


@pytest.mark.parametrize("path", SWEEPS)
@pytest.mark.parametrize("scale", ["smoke", "mini", "paper"])
def test_sweeps_load_at_every_scale(path, scale):
    from orchestrator.spec import load_sweep

    sweep = load_sweep(f"sweeps/{path}", scale)
    assert sweep.reproduces == sweep.name
    trials = sweep.trials()
    assert trials and all(t.params["dataset"] == {"smoke": "synthetic", "mini": "digits", "paper": "imagenet"}[scale]
                          for t in trials)
    if scale == "smoke":
        assert sweep.seeds == [0] and len(trials) <= 3


def test_fig4_plot_draws_one_panel_per_subset(tmp_path):
    spec = get_table("tts-fig4")
    row = {"subset": "round"}
    for m in spec.metrics:
        row[f"{m}_mean"] = 1.0
    for i, t in enumerate(("t50", "t60", "t70", "t80", "t90")):
        for w in ("subset", "other"):
            for when in ("before", "after"):
                row[f"{w}_{when}_latency_ms_{t}_mean"] = 1.0 + i
                row[f"{w}_{when}_accuracy_{t}_mean"] = 80.0 + i
    out = tmp_path / "fig4.png"
    spec.plot(pd.DataFrame([row, dict(row, subset="curvy")]), out)
    assert out.is_file() and out.stat().st_size > 1000
