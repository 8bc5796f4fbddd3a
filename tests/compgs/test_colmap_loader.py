"""COLMAP loader on small scenes written here in COLMAP's text and binary formats (read_write_model layout)."""
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from workloads.compgs.colmap import load_colmap, qvec_to_rotmat
from workloads.compgs.geometry import project_gaussians
from workloads.compgs.nerf_synthetic import SceneMissingError

# camera 1: PINHOLE 40x30; 3 images looking down +z from x offsets; 2 SfM points
CAMS = {1: ("PINHOLE", 1, 40, 30, [50.0, 52.0, 20.0, 15.0])}
IMAGES = [(1, [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 1, "a.png"),
          (2, [0.9238795, 0.0, 0.3826834, 0.0], [0.1, 0.0, 0.2], 1, "b.png"),
          (3, [1.0, 0.0, 0.0, 0.0], [-0.5, 0.0, 0.0], 1, "c.png")]
POINTS = [(7, [0.0, 0.0, 2.0], [255, 0, 0], 0.5, [(1, 0)]), (9, [0.3, -0.2, 3.0], [0, 128, 255], 0.1, [(1, 1), (2, 0)])]


def _images(scene):
    (scene / "images").mkdir(parents=True)
    for _, _, _, _, name in IMAGES:
        Image.fromarray(np.full((30, 40, 3), 100, np.uint8)).save(scene / "images" / name)


def write_text(scene):
    sp = scene / "sparse" / "0"
    sp.mkdir(parents=True)
    (sp / "cameras.txt").write_text("# Camera list\n" + "".join(
        f"{i} {m} {w} {h} {' '.join(map(str, p))}\n" for i, (m, _, w, h, p) in CAMS.items()))
    lines = ["# Image list with two lines of data per image:"]
    for i, q, t, c, n in IMAGES:
        lines += [f"{i} {' '.join(map(str, q))} {' '.join(map(str, t))} {c} {n}", "1.0 2.0 7 3.0 4.0 -1"]
    (sp / "images.txt").write_text("\n".join(lines) + "\n")
    (sp / "points3D.txt").write_text("# 3D point list\n" + "".join(
        f"{i} {' '.join(map(str, x))} {' '.join(map(str, c))} {e} {' '.join(f'{a} {b}' for a, b in tr)}\n"
        for i, x, c, e, tr in POINTS))
    _images(scene)


def write_binary(scene):
    sp = scene / "sparse" / "0"
    sp.mkdir(parents=True)
    data = struct.pack("<Q", len(CAMS))
    for i, (_, mid, w, h, p) in CAMS.items():
        data += struct.pack("<iiQQ", i, mid, w, h) + struct.pack(f"<{len(p)}d", *p)
    (sp / "cameras.bin").write_bytes(data)
    data = struct.pack("<Q", len(IMAGES))
    for i, q, t, c, n in IMAGES:
        data += struct.pack("<i7di", i, *q, *t, c) + n.encode() + b"\x00"
        data += struct.pack("<Q", 2) + struct.pack("<ddq", 1.0, 2.0, 7) + struct.pack("<ddq", 3.0, 4.0, -1)
    (sp / "images.bin").write_bytes(data)
    data = struct.pack("<Q", len(POINTS))
    for i, x, c, e, tr in POINTS:
        data += struct.pack("<Q3d3BdQ", i, *x, *c, e, len(tr)) + b"".join(struct.pack("<ii", a, b) for a, b in tr)
    (sp / "points3D.bin").write_bytes(data)
    _images(scene)


@pytest.mark.parametrize("writer", [write_text, write_binary])
def test_loads_cameras_poses_points(tmp_path, writer):
    writer(tmp_path)
    s = load_colmap(tmp_path, test_every=3)
    assert [v["name"] for v in s["test"]] == ["a.png"] and [v["name"] for v in s["train"]] == ["b.png", "c.png"]
    cam = s["train"][0]["camera"]
    assert (cam["fx"], cam["fy"], cam["cx"], cam["cy"], cam["width"], cam["height"]) == (50.0, 52.0, 19.5, 14.5, 40, 30)
    assert torch.allclose(cam["world_to_cam"][:3, :3], torch.from_numpy(qvec_to_rotmat(IMAGES[1][1])).float())
    assert torch.allclose(cam["world_to_cam"][:3, 3], torch.tensor([0.1, 0.0, 0.2]))
    assert torch.allclose(s["points"], torch.tensor([[0.0, 0.0, 2.0], [0.3, -0.2, 3.0]]))
    assert torch.allclose(s["colors"][1], torch.tensor([0.0, 128 / 255, 1.0]))
    assert s["train"][0]["image"].shape == (3, 30, 40)


def test_projection_follows_colmap_pixel_convention(tmp_path):
    write_text(tmp_path)
    cam = load_colmap(tmp_path, test_every=0)["train"][0]["camera"]  # identity pose
    m2d, depth, _ = project_gaussians(torch.tensor([[0.3, -0.2, 3.0]]), torch.eye(3)[None] * 1e-4, cam["world_to_cam"],
                                      cam["fx"], cam["fy"], cam["cx"], cam["cy"])
    # COLMAP: u = fx x/z + cx with pixel centres at +0.5; ours subtracts that half pixel
    assert torch.allclose(m2d[0], torch.tensor([50 * 0.1 + 20.0 - 0.5, 52 * (-0.2 / 3) + 15.0 - 0.5]))
    assert depth.item() == pytest.approx(3.0)


def test_qvec_identity_and_rotation():
    assert np.allclose(qvec_to_rotmat([1, 0, 0, 0]), np.eye(3))
    r = qvec_to_rotmat([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])  # 90 degrees about z
    assert np.allclose(r @ [1, 0, 0], [0, 1, 0])


def test_resize_scales_intrinsics(tmp_path):
    write_binary(tmp_path)
    cam = load_colmap(tmp_path, max_width=20)["test"][0]["camera"]
    assert (cam["width"], cam["height"], cam["fx"], cam["cx"]) == (20, 15, 25.0, 9.5)


def test_missing_and_distorted_scenes_name_the_layout(tmp_path):
    with pytest.raises(SceneMissingError, match="sparse/0"):
        load_colmap(tmp_path / "nowhere")
    write_text(tmp_path)
    (tmp_path / "sparse" / "0" / "points3D.txt").unlink()
    with pytest.raises(SceneMissingError, match="points3D"):
        load_colmap(tmp_path)
    write = tmp_path / "sparse" / "0" / "cameras.txt"
    write.write_text("1 OPENCV 40 30 50 52 20 15 0.1 0.0 0.0 0.0\n")
    (tmp_path / "sparse" / "0" / "points3D.txt").write_text("")
    with pytest.raises(SceneMissingError, match="image_undistorter"):
        load_colmap(tmp_path)
    (tmp_path / "images" / "b.png").unlink()
    write.write_text("1 PINHOLE 40 30 50 52 20 15\n")
    with pytest.raises(SceneMissingError, match="b.png"):
        load_colmap(tmp_path)
