"""Real workloads declare their metrics: a search or ASHA metric they never report is refused before any trial,
names built at run time match through patterns, and every shipped sweep's metrics are declared."""
from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.registry import WORKLOAD_PACKAGES, get_workload, register
from orchestrator.spec import SweepError, load_sweep

ROOT = Path(__file__).resolve().parents[2]
PALM_SEARCH = (ROOT / "sweeps" / "palm" / "search.yaml").read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", WORKLOAD_PACKAGES)
def test_every_real_workload_declares_its_metrics(name):
    assert get_workload(name).metrics, f"workload {name} declares no metrics"


def test_search_metric_palm_never_reports_is_refused(tmp_path):
    path = _write(tmp_path, PALM_SEARCH.replace("metric: mean_error", "metric: mean_eror"))
    with pytest.raises(SweepError) as err:
        load_sweep(path, "smoke")
    msg = str(err.value)
    assert "search/metric" in msg and "'palm'" in msg and "'mean_eror'" in msg and "mean_error" in msg


def test_asha_metric_palm_never_reports_is_refused(tmp_path):
    text = PALM_SEARCH + "scheduler: {asha: {metric: accuracy, mode: max}}\n"
    with pytest.raises(SweepError, match="scheduler/asha/metric.*'accuracy'"):
        load_sweep(_write(tmp_path, text), "mini")


def test_run_time_names_match_through_a_pattern(tmp_path):
    # PALM summarises one error per corruption (error_<task>): the pattern error_* admits them ...
    text = PALM_SEARCH.replace("metric: mean_error", "metric: error_gaussian_noise")
    assert load_sweep(_write(tmp_path, text), "smoke").search.metric == "error_gaussian_noise"
    # ... but a pattern is anchored: a name that only contains the prefix elsewhere is still refused
    with pytest.raises(SweepError, match="never reports"):
        load_sweep(_write(tmp_path, PALM_SEARCH.replace("metric: mean_error", "metric: top_error_x")), "smoke")


def test_reports_exact_pattern_and_undeclared():
    wl = get_workload("palm")
    assert wl.reports("mean_error") and wl.reports("error_fog") and wl.reports("adapted_pct_fog")
    assert wl.reports("error")  # the per-batch stream metric
    assert not wl.reports("mean_errors") and not wl.reports("accuracy") and not wl.reports("xerror_fog")

    @register("test_undeclared_metrics", config=wl.config_cls)
    def _undeclared(cfg, ctx):  # no declaration: nothing can be checked, everything passes
        pass

    assert get_workload("test_undeclared_metrics").reports("anything")


def test_a_lone_string_is_not_a_declaration():
    with pytest.raises(TypeError, match="list of names"):
        register("test_string_metrics", config=get_workload("palm").config_cls, metrics="loss")
