"""NeRF-synthetic scene loader (``transforms_{train,test}.json`` + RGBA PNGs), cameras in the rasterizer's convention."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


class SceneMissingError(FileNotFoundError):
    """A scene folder or one of its files is missing or malformed."""


_LAYOUT = ("expected <scene>/transforms_train.json and transforms_test.json with 'camera_angle_x' and 'frames' "
           "[{file_path, transform_matrix}], images at <scene>/<file_path>.png (the NeRF-synthetic layout, e.g. "
           "nerf_synthetic/lego from the NeRF authors' release); download it yourself and point scene_root there")


def load_nerf_synthetic(scene: Path, split: str, *, image_size: int | None = None,
                        white_background: bool = True) -> list[dict]:
    """Views of ``split`` as dicts: image (3, H, W) float in [0, 1] and camera (world_to_cam 4x4 OpenCV, fx, fy, ...).

    NeRF-synthetic poses are OpenGL camera-to-world (y up, z backward): flipping the y and z camera axes gives
    the OpenCV convention (y down, z forward) that the projection uses.
    """
    path = Path(scene) / f"transforms_{split}.json"
    if not path.is_file():
        raise SceneMissingError(f"NeRF-synthetic scene file {path} not found: {_LAYOUT}")
    try:
        meta = json.loads(path.read_text())
        fov_x, frames = float(meta["camera_angle_x"]), meta["frames"]
    except (ValueError, KeyError) as exc:
        raise SceneMissingError(f"{path} is not a valid transforms file ({exc!r}): {_LAYOUT}") from None
    views = []
    for fr in frames:
        img_path = Path(scene) / (fr["file_path"] + ("" if fr["file_path"].endswith(".png") else ".png"))
        if not img_path.is_file():
            raise SceneMissingError(f"image {img_path} listed in {path} not found: {_LAYOUT}")
        img = Image.open(img_path).convert("RGBA")
        if image_size is not None:
            img = img.resize((image_size, image_size), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        rgb, alpha = arr[..., :3], arr[..., 3:]
        rgb = rgb * alpha + (1.0 - alpha) * (1.0 if white_background else 0.0)
        h, w = rgb.shape[:2]
        c2w = np.asarray(fr["transform_matrix"], dtype=np.float64)
        c2w[:3, 1:3] *= -1
        focal = 0.5 * w / math.tan(0.5 * fov_x)
        views.append({"image": torch.from_numpy(rgb).permute(2, 0, 1).contiguous(),
                      "camera": {"world_to_cam": torch.from_numpy(np.linalg.inv(c2w)).float(), "fx": focal,
                                 "fy": focal, "cx": w / 2 - 0.5, "cy": h / 2 - 0.5, "width": w, "height": h}})
    return views
