"""COLMAP sparse reconstructions (text and binary) as 3DGS scenes: cameras, posed images, SfM points for init.

Real captures (Mip-NeRF360, Tanks&Temples, Deep Blending as distributed for 3DGS) are
``<scene>/images/<name>`` plus ``<scene>/sparse/0/{cameras,images,points3D}.{bin,txt}``. The formats follow
COLMAP's ``read_write_model`` documentation; poses are world-to-camera (x_cam = R(q) x_world + t), OpenCV axes.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from workloads.compgs.benchmarks import MIPNERF360_INDOOR, MIPNERF360_OUTDOOR
from workloads.compgs.nerf_synthetic import SceneMissingError

# model id -> (name, number of params); from COLMAP's src/colmap/sensor/models.h
CAMERA_MODELS = {0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5),
                 4: ("OPENCV", 8), 5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5),
                 8: ("SIMPLE_RADIAL_FISHEYE", 4), 9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12)}
MODEL_IDS = {name: (i, n) for i, (name, n) in CAMERA_MODELS.items()}

LAYOUT = ("expected a COLMAP scene: <scene>/images/<image files> and <scene>/sparse/0/ holding cameras, images "
          "and points3D as .bin or .txt (what `colmap mapper` + `colmap image_undistorter` write; the 3DGS "
          "Mip-NeRF360 / Tanks&Temples / Deep Blending downloads have this layout). Put the scene under "
          "$ORCHESTRATOR_DATA and name it in `scene:`")


def qvec_to_rotmat(q: np.ndarray) -> np.ndarray:
    """COLMAP quaternion (w, x, y, z) -> 3x3 rotation."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _lines(path: Path):
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def read_cameras_text(path: Path) -> dict[int, dict]:
    cams = {}
    for line in _lines(path):
        el = line.split()
        cams[int(el[0])] = {"model": el[1], "width": int(el[2]), "height": int(el[3]),
                            "params": np.array([float(v) for v in el[4:]])}
    return cams


def read_images_text(path: Path) -> dict[int, dict]:
    """Two lines per image; the second (2D points) is read as text and may be empty."""
    raw = [ln.strip() for ln in path.read_text().splitlines() if not ln.startswith("#")]
    images, i = {}, 0
    while i < len(raw):
        if not raw[i]:
            i += 1
            continue
        el = raw[i].split()
        images[int(el[0])] = {"qvec": np.array([float(v) for v in el[1:5]]), "tvec": np.array([float(v) for v in el[5:8]]),
                              "camera_id": int(el[8]), "name": " ".join(el[9:])}
        i += 2
    return images


def read_points3d_text(path: Path) -> tuple[np.ndarray, np.ndarray]:
    xyz, rgb = [], []
    for line in _lines(path):
        el = line.split()
        xyz.append([float(v) for v in el[1:4]])
        rgb.append([int(v) for v in el[4:7]])
    return np.array(xyz, dtype=np.float64).reshape(-1, 3), np.array(rgb, dtype=np.uint8).reshape(-1, 3)


class _Reader:
    def __init__(self, path: Path):
        self.data, self.pos, self.path = path.read_bytes(), 0, path

    def read(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise SceneMissingError(f"{self.path} is truncated (needs {self.pos + size} bytes, has {len(self.data)}): {LAYOUT}")
        out = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return out

    def cstring(self) -> str:
        end = self.data.index(b"\x00", self.pos)
        s = self.data[self.pos:end].decode()
        self.pos = end + 1
        return s


def read_cameras_binary(path: Path) -> dict[int, dict]:
    r, cams = _Reader(path), {}
    (n,) = r.read("Q")
    for _ in range(n):
        cam_id, model_id, w, h = r.read("iiQQ")
        if model_id not in CAMERA_MODELS:
            raise SceneMissingError(f"{path}: unknown COLMAP camera model id {model_id}: {LAYOUT}")
        name, k = CAMERA_MODELS[model_id]
        cams[cam_id] = {"model": name, "width": w, "height": h, "params": np.array(r.read("d" * k))}
    return cams


def read_images_binary(path: Path) -> dict[int, dict]:
    r, images = _Reader(path), {}
    (n,) = r.read("Q")
    for _ in range(n):
        image_id, *qt, cam_id = r.read("idddddddi")
        name = r.cstring()
        (n2d,) = r.read("Q")
        r.pos += n2d * struct.calcsize("<ddq")  # 2D keypoints are not needed for training
        images[image_id] = {"qvec": np.array(qt[:4]), "tvec": np.array(qt[4:]), "camera_id": cam_id, "name": name}
    return images


def read_points3d_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    r = _Reader(path)
    (n,) = r.read("Q")
    xyz, rgb = np.zeros((n, 3)), np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        _, x, y, z, cr, cg, cb, _err, track = r.read("QdddBBBdQ")
        xyz[i], rgb[i] = (x, y, z), (cr, cg, cb)
        r.pos += track * struct.calcsize("<ii")
    return xyz, rgb


def _find(sparse: Path, stem: str) -> tuple[Path, bool]:
    for ext, binary in ((".bin", True), (".txt", False)):
        if (sparse / f"{stem}{ext}").is_file():
            return sparse / f"{stem}{ext}", binary
    raise SceneMissingError(f"COLMAP file {sparse / stem}.bin (or .txt) not found: {LAYOUT}")


def pinhole_intrinsics(cam: dict) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) of an undistorted camera; distorted models must be undistorted first, as in 3DGS."""
    p, model = cam["params"], cam["model"]
    if model == "SIMPLE_PINHOLE":
        return p[0], p[0], p[1], p[2]
    if model == "PINHOLE":
        return p[0], p[1], p[2], p[3]
    raise SceneMissingError(f"camera model {model} has lens distortion; 3DGS/CompGS need PINHOLE or SIMPLE_PINHOLE "
                            f"cameras: run `colmap image_undistorter` on the scene first ({LAYOUT})")


# 3DGS full_eval.py (graphdeco-inria/gaussian-splatting, l.4-5, l.27-32): Mip-NeRF360 outdoor scenes train and
# evaluate on `-i images_4`, indoor scenes on `-i images_2`; Tanks&Temples and Deep Blending on `images`. The scene
# lists live in workloads.compgs.benchmarks.


def image_folder(scene: Path | str, images: str = "auto") -> str:
    """The folder of a COLMAP scene that holds its images: ``images`` given by name, or for ``auto`` the one 3DGS's
    ``full_eval.py`` passes with ``-i`` (``images_4`` / ``images_2`` for Mip-NeRF360 outdoor / indoor scenes, by the
    scene folder's name; ``images`` otherwise, as for Tanks&Temples and Deep Blending)."""
    if images != "auto":
        return images
    name = Path(scene).name.lower()
    if name in MIPNERF360_OUTDOOR:
        return "images_4"
    if name in MIPNERF360_INDOOR:
        return "images_2"
    return "images"


def intrinsics_scale(camera_size: tuple[int, int], image_size: tuple[int, int]) -> tuple[float, float]:
    """(x, y) factors from COLMAP's camera (calibrated at full resolution, (width, height)) to the loaded image.

    3DGS keeps the field of view (``scene/dataset_readers.py`` focal2fov of fx with the COLMAP width, of fy with the
    COLMAP height) and renders at the loaded image's size, so a downsampled folder (``images_4``, whose sizes are
    rounded) or a resize to 1600 px scales fx, cx by the width ratio and fy, cy by the height ratio."""
    return image_size[0] / camera_size[0], image_size[1] / camera_size[1]


def load_colmap(scene: Path, *, max_width: int | None = None, test_every: int = 8, images: str = "images") -> dict:
    """Train/test views (every ``test_every``-th image by name is a test view, as 3DGS's llffhold=8) and SfM points.

    ``images``: the folder under the scene holding the image files (``images``, ``images_2``, ``images_4``, ...;
    ``auto`` = 3DGS full_eval.py's choice, see ``image_folder``). Images wider than ``max_width`` are resized to it.
    Returns dict(train=[views], test=[views], points=(P, 3) float32, colors=(P, 3) in [0, 1]).
    """
    scene = Path(scene)
    folder = image_folder(scene, images)
    if not (scene / folder).is_dir():
        present = sorted(p.name for p in scene.glob("images*") if p.is_dir())
        raise SceneMissingError(f"COLMAP scene {scene}: image folder {scene / folder} not found (present: "
                                f"{', '.join(present) or 'none'}). 3DGS evaluates Mip-NeRF360 outdoor scenes on images_4 "
                                f"and indoor ones on images_2 (as the data set ships them); set images: images to use "
                                f"the full-resolution folder. {LAYOUT}")
    sparse = scene / "sparse" / "0"
    if not sparse.is_dir():
        sparse = scene / "sparse"
    if not sparse.is_dir():
        raise SceneMissingError(f"COLMAP scene folder {scene / 'sparse' / '0'} not found: {LAYOUT}")
    cam_path, cam_bin = _find(sparse, "cameras")
    img_path, img_bin = _find(sparse, "images")
    pts_path, pts_bin = _find(sparse, "points3D")
    cams = read_cameras_binary(cam_path) if cam_bin else read_cameras_text(cam_path)
    images = read_images_binary(img_path) if img_bin else read_images_text(img_path)
    xyz, rgb = read_points3d_binary(pts_path) if pts_bin else read_points3d_text(pts_path)
    views = []
    for im in sorted(images.values(), key=lambda v: v["name"]):
        path = scene / folder / im["name"]
        if not path.is_file():
            raise SceneMissingError(f"image {path} named in {img_path} not found: {LAYOUT}")
        if im["camera_id"] not in cams:
            raise SceneMissingError(f"{img_path}: image {im['name']} uses camera {im['camera_id']}, missing in {cam_path}")
        cam = cams[im["camera_id"]]
        fx, fy, cx, cy = pinhole_intrinsics(cam)
        img = Image.open(path).convert("RGB")
        if max_width and img.width > max_width:
            img = img.resize((max_width, max(1, round(img.height * max_width / img.width))), Image.BILINEAR)
        sx, sy = intrinsics_scale((cam["width"], cam["height"]), img.size)
        w2c = np.eye(4)
        w2c[:3, :3], w2c[:3, 3] = qvec_to_rotmat(im["qvec"]), im["tvec"]
        # COLMAP puts the first pixel's centre at 0.5; the rasterizer puts it at 0
        camera = {"world_to_cam": torch.from_numpy(w2c).float(), "fx": fx * sx, "fy": fy * sy,
                  "cx": cx * sx - 0.5, "cy": cy * sy - 0.5, "width": img.width, "height": img.height}
        image = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
        views.append({"image": image, "camera": camera, "name": im["name"]})
    if not views:
        raise SceneMissingError(f"{img_path} lists no images: {LAYOUT}")
    test = [v for i, v in enumerate(views) if test_every and i % test_every == 0]
    train = [v for i, v in enumerate(views) if not (test_every and i % test_every == 0)]
    return {"train": train, "test": test or views[:1], "points": torch.from_numpy(xyz).float(),
            "colors": torch.from_numpy(rgb.astype(np.float32) / 255.0)}
