"""The compgs workload end to end in-process at smoke scale: metrics from the real file, resume, scene errors."""
import pytest
import torch

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload
from workloads.compgs.generated_scene import make_scene
from workloads.compgs.nerf_synthetic import SceneMissingError
from workloads.compgs.storage import load_compressed

SMOKE = dict(scene="smoke", iterations=20, grad_multiplier=10.0, opacity_reset_interval=7500, codebook_scale=0.004,
             reg_multiplier=250.0, fps_repeats=1)


def _run(tmp_path, name, cache, **kw):
    wl = get_workload("compgs")
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / name, cache_dir=cache)
    wl.fn(build_config(wl, {**SMOKE, **kw}), ctx)
    return ctx


def test_compgs_and_3dgs_report_file_metrics(tmp_path):
    cache = tmp_path / "cache"
    gs = _run(tmp_path, "3dgs", cache, variant="3dgs")
    cg = _run(tmp_path, "cg", cache, variant="compgs_32k_bitq")
    for ctx in (gs, cg):
        s = ctx.summaries
        f = ctx.artifacts["model.cgs"]
        assert s["memory_mb"] == pytest.approx(f.stat().st_size / 1e6)
        assert s["num_gaussians"] == len(load_compressed(f)) > 0
        assert 0 < s["psnr"] < 100 and 0 < s["ssim"] <= 1 and s["fps"] > 0
        assert "test_view.png" in ctx.artifacts
    assert gs.summaries["mem"] == pytest.approx(20.0, rel=0.01)  # 59 fp32 values per Gaussian + header
    assert cg.summaries["compression"] > 5
    assert cg.summaries["nonquant_share"] + cg.summaries["quant_share"] == pytest.approx(100)
    assert len(load_compressed(cg.artifacts["model.cgs"]).codebooks) == 4


def test_int8_reuses_the_3dgs_training_and_post_kmeans_runs(tmp_path):
    cache = tmp_path / "cache"
    a = _run(tmp_path, "a", cache, variant="3dgs")
    b = _run(tmp_path, "b", cache, variant="int8_no_pos")
    c = _run(tmp_path, "c", cache, variant="post_kmeans_4k")
    assert a.summaries["train_time_s"] == b.summaries["train_time_s"] == c.summaries["train_time_s"]
    assert b.summaries["memory_mb"] < 0.5 * a.summaries["memory_mb"]
    assert not b.reports  # nothing was trained again
    assert set(load_compressed(c.artifacts["model.cgs"]).codebooks) == {"sh", "dc", "scale", "rot"}


def test_shared_codebook_is_frozen_from_the_other_scene(tmp_path):
    cache = tmp_path / "cache"
    src = _run(tmp_path, "src", cache, variant="compgs_4k")
    shared = _run(tmp_path, "sh", cache, variant="compgs_4k", scene="smoke2", shared_codebook=True, codebook_scene="smoke")
    a, b = load_compressed(src.artifacts["model.cgs"]), load_compressed(shared.artifacts["model.cgs"])
    for g in a.codebooks:
        assert torch.equal(a.codebooks[g], b.codebooks[g])


def test_interrupted_training_resumes_from_checkpoint(tmp_path):
    first = _run(tmp_path, "w", tmp_path / "c1", variant="3dgs", checkpoint_every=10)
    assert (tmp_path / "w" / "checkpoint.pt").is_file()
    again = _run(tmp_path, "w", tmp_path / "c2", variant="3dgs", checkpoint_every=10)  # fresh cache: trains, resumes
    assert min(s for s, _ in again.reports) >= 10 and min(s for s, _ in first.reports) == 0


def test_generated_scene_is_deterministic_and_cached(tmp_path):
    a = make_scene("smoke", tmp_path / "x")
    b = make_scene("smoke", tmp_path / "y")
    assert torch.equal(a["train"][0]["image"], b["train"][0]["image"]) and len(a["test"]) == 2
    assert any((tmp_path / "x" / "compgs").glob("smoke-24px-*.pt"))
    assert float(a["train"][0]["image"].std()) > 0.05  # not an empty render


def test_missing_scene_names_both_layouts(tmp_path):
    with pytest.raises(SceneMissingError, match="transforms_train.json.*sparse/0"):
        _run(tmp_path, "m", tmp_path / "c", variant="3dgs", scene="mipnerf360/garden")
