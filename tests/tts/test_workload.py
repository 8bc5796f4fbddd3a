"""The workload in-process (LocalContext) at smoke scale, and its configuration errors."""
import pytest

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload

SMOKE = dict(dataset="synthetic", arch="revcol_micro", source_epochs=1, head_epochs=5, n_train=128, n_test=96,
             latency_images=4, latency_warmup=1)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """One model cache for the module's runs: the smoke source model and heads are trained once per test worker,
    then read from the cache as a sweep's later trials read them."""
    return tmp_path_factory.mktemp("tts-cache")


def _run(tmp_path, cache=None, **params):
    wl = get_workload("tts")
    cfg = build_config(wl, {**SMOKE, **params})
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / "work", cache_dir=cache or tmp_path / "cache")
    wl.fn(cfg, ctx)
    return ctx


def test_table1_rows_run_and_report(tmp_path, model_cache):
    fixed = _run(tmp_path, model_cache, policy="fixed:1").summaries
    assert fixed["exit_frac_1"] == 1.0 and fixed["exit_mean"] == 1.0
    assert fixed["accuracy"] == pytest.approx(fixed["exit1_test_accuracy"])
    base = _run(tmp_path, model_cache, policy="baseline").summaries
    assert base["accuracy"] == pytest.approx(base["exit3_test_accuracy"])
    assert base["gflops"] > fixed["gflops"] > 0
    for s in (fixed, base):
        assert s["latency_p10_ms"] <= s["latency_median_ms"] <= s["latency_p90_ms"]
    adaptive = _run(tmp_path, model_cache, policy="threshold:0.0").summaries
    assert adaptive["exit_frac_0"] == 1.0


def test_specialize_runs_updates_and_draws(tmp_path, model_cache):
    ctx = _run(tmp_path, model_cache, experiment="specialize", subset="low", n_stream_per_class=3, lr=0.05,
               thresholds=[0.3, 0.9], adapt_threshold=0.9)
    s = ctx.summaries  # stream_pick: predicted (default): up to 3 images per class the baseline predicts in 0-4
    assert 0 < s["stream_images"] <= 15 and 0 < s["updates"] <= s["stream_images"] and s["held_out_images"] > 0
    for key in ("subset_before_accuracy_t30", "other_after_latency_ms_t90", "update_step_ms", "inference_worst_ms"):
        assert key in s
    assert ctx.artifacts and next(iter(ctx.artifacts.values())).suffix == ".png"
    assert ctx.metric_history("stream_exit_mean")


def test_last_exit_accuracy_is_unchanged_by_specialization(tmp_path, model_cache):
    s = _run(tmp_path, model_cache, experiment="specialize", subset="high", n_stream_per_class=3, lr=0.5,
             thresholds=[0.0, 1.01], adapt_threshold=0.5).summaries
    # above 1 no early exit fires: both curves are the last exit's, which specialization never touches
    assert s["subset_after_accuracy_t101"] == s["subset_before_accuracy_t101"]
    assert s["other_after_accuracy_t101"] == s["other_before_accuracy_t101"]
    assert s["subset_before_exit_mean_t101"] == 3.0 and s["subset_before_exit_mean_t0"] == 0.0


@pytest.mark.parametrize("params, match", [
    ({"policy": "fastest"}, "unknown policy"),
    ({"experiment": "specialize", "subset": "snakes"}, "unknown class subset"),
    ({"experiment": "specialize", "subset": "low", "n_stream_per_class": 500, "stream_pick": "labelled"},
     "Lower n_stream_per_class"),
    ({"experiment": "specialize", "subset": "low", "stream_split": "unlabeled"}, "stream_split: test"),
    ({"experiment": "specialize", "subset": "low", "thresholds": [-0.1]}, "thresholds"),
    ({"source_epochs": 0}, "source_epochs >= 1"),
])
def test_bad_configurations_explain_the_fix(tmp_path, model_cache, params, match):
    with pytest.raises(ValueError, match=match):
        _run(tmp_path, model_cache, **params)


def test_paper_scale_without_checkpoint_or_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="checkpoint=<local RevCol-T"):
        _run(tmp_path, dataset="imagenet", arch="revcol_tiny")
    from workloads.common.datasets import DatasetMissingError

    wl = get_workload("tts")
    (tmp_path / "w.pth").write_bytes(b"weights")  # present, so the missing data set is what stops the trial
    cfg = build_config(wl, {"dataset": "imagenet", "arch": "revcol_tiny", "checkpoint": str(tmp_path / "w.pth")})
    ctx = LocalContext(seed=0, scale="paper", work_dir=tmp_path, cache_dir=tmp_path / "c", data_root=tmp_path / "data")
    with pytest.raises(DatasetMissingError, match="imagenet"):
        wl.fn(cfg, ctx)


def test_unknown_parameter_is_rejected():
    with pytest.raises(ConfigError, match="thresholdz"):
        build_config(get_workload("tts"), {"thresholdz": [0.5]})


def test_lookahead_changes_no_result_only_the_time(tmp_path, model_cache):
    kw = dict(experiment="specialize", subset="low", n_stream_per_class=3, lr=0.05, thresholds=[0.5],
              adapt_threshold=0.5, latency_images=2)
    a = _run(tmp_path / "a", model_cache, **kw).summaries
    b = _run(tmp_path / "b", model_cache, lookahead=1, **kw).summaries
    same = [k for k in a if "accuracy" in k or k in ("updates", "stream_images", "stream_exit_mean")]
    assert len(same) > 4 and {k: a[k] for k in same} == {k: b[k] for k in same}


def test_lookahead_outside_0_and_1_is_refused():
    with pytest.raises(ConfigError, match="lookahead"):
        build_config(get_workload("tts"), {**SMOKE, "lookahead": 2})
