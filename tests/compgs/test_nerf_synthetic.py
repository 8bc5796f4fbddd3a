import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from workloads.compgs.nerf_synthetic import SceneMissingError, load_nerf_synthetic


def test_loads_real_layout_and_projects_origin_to_centre(tmp_path):
    (tmp_path / "test").mkdir()
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half transparent -> white background
    Image.fromarray(rgba).save(tmp_path / "test" / "r_0.png")
    # OpenGL camera at z=+4 looking down -z at the origin.
    c2w = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 4], [0, 0, 0, 1]]
    (tmp_path / "transforms_test.json").write_text(json.dumps(
        {"camera_angle_x": 2 * math.atan(0.5), "frames": [{"file_path": "./test/r_0", "transform_matrix": c2w}]}))
    (view,) = load_nerf_synthetic(tmp_path, "test")
    assert torch.allclose(view["image"][:, 0, 0], torch.tensor([1.0, 0, 0]))
    assert torch.allclose(view["image"][:, 7, 0], torch.tensor([1.0, 1.0, 1.0]))
    cam = view["camera"]
    assert cam["fx"] == pytest.approx(8.0)  # 0.5 * 8 / tan(atan(0.5))
    p = cam["world_to_cam"] @ torch.tensor([0.0, 0.0, 0.0, 1.0])
    assert torch.allclose(p[:3], torch.tensor([0.0, 0.0, 4.0]))  # in front of the camera (OpenCV z forward)
    q = cam["world_to_cam"] @ torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert q[1] < 0  # world up is image up (OpenCV y down)


def test_missing_scene_says_layout(tmp_path):
    with pytest.raises(SceneMissingError, match="transforms_train.json"):
        load_nerf_synthetic(tmp_path, "train")
