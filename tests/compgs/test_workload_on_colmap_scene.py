"""The workload on a real-format COLMAP scene (text files + PNGs) written from the generated smoke scene."""
import numpy as np
import torch
from PIL import Image

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload
from workloads.compgs.generated_scene import make_scene


def rotmat_to_qvec(r: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of a rotation matrix (Shepperd's method; fine for the well-conditioned look-at rotations here)."""
    w = np.sqrt(max(1e-12, 1 + r[0, 0] + r[1, 1] + r[2, 2])) / 2
    if w > 1e-3:
        return np.array([w, (r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w)])
    x = np.sqrt(max(1e-12, 1 + r[0, 0] - r[1, 1] - r[2, 2])) / 2
    return np.array([(r[2, 1] - r[1, 2]) / (4 * x), x, (r[0, 1] + r[1, 0]) / (4 * x), (r[0, 2] + r[2, 0]) / (4 * x)])


def write_colmap(scene: dict, root):
    sp = root / "sparse" / "0"
    sp.mkdir(parents=True)
    (root / "images").mkdir()
    views = scene["train"] + scene["test"]
    cam = views[0]["camera"]
    (sp / "cameras.txt").write_text(f"1 PINHOLE {cam['width']} {cam['height']} {cam['fx']} {cam['fy']} "
                                    f"{cam['cx'] + 0.5} {cam['cy'] + 0.5}\n")
    lines = []
    for i, v in enumerate(views):
        w2c = v["camera"]["world_to_cam"].double().numpy()
        q, t = rotmat_to_qvec(w2c[:3, :3]), w2c[:3, 3]
        name = f"{i:03d}.png"
        Image.fromarray((v["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(root / "images" / name)
        lines += [f"{i + 1} {' '.join(map(str, q))} {' '.join(map(str, t))} 1 {name}", ""]
    (sp / "images.txt").write_text("\n".join(lines) + "\n")
    pts, cols = scene["points"].numpy(), (scene["colors"].numpy() * 255).round().astype(int)
    (sp / "points3D.txt").write_text("".join(f"{i + 1} {p[0]} {p[1]} {p[2]} {c[0]} {c[1]} {c[2]} 0.1\n"
                                             for i, (p, c) in enumerate(zip(pts, cols))))


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
