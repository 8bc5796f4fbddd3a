"""The workload on a real-format COLMAP scene (text files + PNGs) written from the generated smoke scene."""
import numpy as np
import torch
from PIL import Image

from orchestrator.context import LocalContext
from support.real_format import rotmat_to_qvec, write_colmap
from orchestrator.registry import build_config, get_workload
from workloads.compgs.generated_scene import make_scene


def test_qvec_round_trip():
    from workloads.compgs.colmap import qvec_to_rotmat

    r = qvec_to_rotmat(np.array([0.3, -0.5, 0.7, 0.2]))
    assert np.allclose(qvec_to_rotmat(rotmat_to_qvec(r)), r)


def test_compgs_trains_on_a_colmap_scene(tmp_path):
    scene = make_scene("smoke", tmp_path / "gen")
    write_colmap(scene, tmp_path / "data" / "tiny")
    wl = get_workload("compgs")
    cfg = build_config(wl, {"variant": "compgs_4k", "scene": "tiny", "iterations": 20, "codebook_scale": 0.004,
                            "grad_multiplier": 10.0, "fps_repeats": 1})
    ctx = LocalContext(seed=0, scale="paper", work_dir=tmp_path / "w", cache_dir=tmp_path / "c", data_root=tmp_path / "data")
    wl.fn(cfg, ctx)
    s = ctx.summaries
    assert s["num_gaussians"] > 0 and s["psnr"] > 5 and s["compression"] > 3
    # every 8th view (by name) is held out: 10 views -> 2 test views
    img = np.asarray(Image.open(ctx.artifacts["test_view.png"]))
    assert img.shape == (24, 48, 3)
    assert torch.isfinite(torch.tensor(s["ssim"]))
