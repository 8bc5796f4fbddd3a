"""CompGS Tables 3.1-3.3 as the paper prints them: one column group per benchmark (Mip-NeRF360, Tanks&Temples, Deep
Blending), each the mean over that benchmark's scenes; the scene lists of 3DGS's full_eval.py; full-resolution
``images`` for Tanks&Temples and Deep Blending."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from orchestrator.spec import SWEEPS_DIR, load_sweep
from results.render import PAPER_ONLY, render
from results.spec import get_table
from tests.compgs.test_workload_on_colmap_scene import write_colmap
from workloads.compgs.benchmarks import resolve_benchmark, scene_benchmark
from workloads.compgs.generated_scene import make_scene

# graphdeco-inria/gaussian-splatting full_eval.py, written out here independently of the module's constants
FULL_EVAL = {"mipnerf360": ["bicycle", "flowers", "garden", "stump", "treehill", "room", "counter", "kitchen", "bonsai"],
             "tandt": ["truck", "train"], "db": ["drjohnson", "playroom"]}
SWEEPS = {"compgs-table3.1": ("compgs/table3_1_sota.yaml", ("mipnerf360", "tandt")),
          "compgs-table3.2": ("compgs/table3_2_param_compression.yaml", ("mipnerf360", "tandt", "db")),
          "compgs-table3.3": ("compgs/table3_3_gaussian_count.yaml", ("mipnerf360", "tandt", "db"))}


@pytest.mark.parametrize("bench,name", [(b, n) for b, names in FULL_EVAL.items() for n in names])
def test_every_full_eval_scene_has_its_benchmark(bench, name):
    assert scene_benchmark(f"{bench}/{name}") == bench
    assert scene_benchmark(f"/data/somewhere/{name.upper()}") == bench  # by the folder's name, any parent
    assert resolve_benchmark(f"{bench}/{name}", "auto") == bench == resolve_benchmark(name, bench)


def test_other_scenes_and_labels():
    assert scene_benchmark("mini") == "other" == scene_benchmark("nerf_synthetic/lego")
    assert resolve_benchmark("smoke", "mipnerf360") == "mipnerf360"  # a generated scene may stand in for a benchmark
    with pytest.raises(ConfigError, match=r"tandt scene.*Set benchmark: tandt or auto"):
        resolve_benchmark("tandt/truck", "mipnerf360")
    with pytest.raises(ConfigError, match=r"benchmark='tanks'.*leave it at auto"):
        resolve_benchmark("tandt/truck", "tanks")


def test_config_records_the_resolved_benchmark():
    wl = get_workload("compgs")
    assert build_config(wl, {"scene": "db/playroom"}).benchmark == "db"
    with pytest.raises(ConfigError, match="wrong column group"):
        build_config(wl, {"scene": "db/playroom", "benchmark": "tandt"})


@pytest.mark.parametrize("table", sorted(SWEEPS))
def test_paper_sweep_runs_every_scene_of_each_benchmark_the_table_prints(table):
    rel, benches = SWEEPS[table]
    sweep = load_sweep(SWEEPS_DIR / rel, "paper")
    trials = sweep.trials()
    variants = {t.params["variant"] for t in trials}
    for variant in variants:
        got = sorted((t.params["benchmark"], t.params["scene"]) for t in trials if t.params["variant"] == variant)
        assert got == sorted((b, f"{b}/{n}") for b in benches for n in FULL_EVAL[b]), (table, variant)
    assert all(t.params["images"] == "auto" for t in trials)  # images_4 / images_2 / images by the scene, as 3DGS
    for scale in ("smoke", "mini"):  # the generated scene stands in for Mip-NeRF360, as before
        assert {t.params["benchmark"] for t in load_sweep(SWEEPS_DIR / rel, scale).trials()} == {"mipnerf360"}


def _runs(rows: list[tuple[str, str, str, float, float]]) -> pd.DataFrame:
    """Finished-run frame as fetch_runs returns it: (variant, benchmark, scene, psnr, ssim) per run."""
    return pd.DataFrame([{"params.variant": v, "params.benchmark": b, "params.scene": s, "metrics.psnr": p,
                          "metrics.ssim": q, "tags.seed": "0"} for v, b, s, p, q in rows])


def test_paper_scale_cells_average_each_benchmark_separately():
    runs = _runs([("3dgs", "mipnerf360", "mipnerf360/bicycle", 25.0, 0.70), ("3dgs", "mipnerf360", "mipnerf360/room", 30.0, 0.90),
                  ("3dgs", "tandt", "tandt/truck", 24.0, 0.86), ("3dgs", "tandt", "tandt/train", 22.0, 0.80),
                  ("3dgs", "db", "db/drjohnson", 29.0, 0.89), ("3dgs", "db", "db/playroom", 30.0, 0.91)])
    r = render(get_table("compgs-table3.3"), "paper", runs=runs)
    cells = r.cells[r.cells["variant"] == "3dgs"].set_index("label")
    assert cells.loc["mipnerf360/psnr", "mean"] == pytest.approx(27.5)
    assert cells.loc["tandt/psnr", "mean"] == pytest.approx(23.0) and cells.loc["tandt/ssim", "mean"] == pytest.approx(0.83)
    assert cells.loc["db/psnr", "mean"] == pytest.approx(29.5) and cells.loc["db/psnr", "n"] == 2
    # each group sits beside the paper's number of the same benchmark (Table 3.3, row 3DGS)
    assert cells.loc["mipnerf360/psnr", "paper"] == pytest.approx(27.42)
    assert cells.loc["tandt/psnr", "paper"] == pytest.approx(23.68) and cells.loc["db/psnr", "paper"] == pytest.approx(29.49)
    assert cells.loc["tandt/psnr", "delta"] == pytest.approx(23.0 - 23.68)
    assert cells.loc["tandt/num_gaussians_k", "status"] == "no metric"  # ran, did not log it: never invented
    assert r.paper_only_columns == []


def test_small_scales_fill_the_mipnerf360_group_and_mark_the_others_paper_only():
    runs = _runs([("3dgs", "mipnerf360", "smoke", 18.0, 0.5), ("opacity_reg", "mipnerf360", "smoke", 17.0, 0.4)])
    r = render(get_table("compgs-table3.3"), "smoke", runs=runs)
    ours = r.cells[r.cells["variant"] == "3dgs"].set_index("label")
    assert ours.loc["mipnerf360/psnr", "mean"] == 18.0 and ours.loc["mipnerf360/psnr", "paper"] == pytest.approx(27.42)
    assert (ours.loc[["tandt/psnr", "db/psnr", "db/num_gaussians_k"], "status"] == PAPER_ONLY).all()
    assert {"tandt/psnr", "db/ssim"} <= set(r.paper_only_columns) and "mipnerf360/psnr" not in r.paper_only_columns
    assert r.missing_cells == 0  # the other groups never ask for a run the scale cannot make


def test_table_3_2_keeps_the_papers_single_mem_column_as_paper_only():
    runs = _runs([("3dgs", "mipnerf360", "smoke", 18.0, 0.5)])
    r = render(get_table("compgs-table3.2"), "smoke", runs=runs)
    assert "mem" in r.paper_only_columns and "mipnerf360/mem" not in r.paper_only_columns


def _colmap_scene_with_decoy_half_res(tmp_path, rel):
    scene = tmp_path / "data" / rel
    write_colmap(make_scene("smoke", tmp_path / "gen"), scene)  # full resolution 24x24 in images/
    (scene / "images_2").mkdir()  # a half-resolution folder 3DGS does not use for these benchmarks
    for p in (scene / "images").iterdir():
        Image.open(p).resize((12, 12), Image.BILINEAR).save(scene / "images_2" / p.name)


@pytest.mark.parametrize("rel", ["tandt/truck", "db/drjohnson"])
def test_tanks_temples_and_deep_blending_train_and_score_at_full_resolution(tmp_path, rel):
    _colmap_scene_with_decoy_half_res(tmp_path, rel)
    wl = get_workload("compgs")
    cfg = build_config(wl, {"variant": "3dgs", "scene": rel, "iterations": 10, "grad_multiplier": 10.0,
                            "fps_repeats": 1})
    assert cfg.benchmark == rel.split("/")[0]
    ctx = LocalContext(seed=0, scale="paper", work_dir=tmp_path / "w", cache_dir=tmp_path / "c", data_root=tmp_path / "data")
    wl.fn(cfg, ctx)
    img = np.asarray(Image.open(ctx.artifacts["test_view.png"]))
    assert img.shape == (24, 48, 3) and ctx.summaries["psnr"] > 5  # rendered | ground truth, both 24x24
