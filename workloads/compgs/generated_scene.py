"""Scenes made here for smoke and mini scale: a ground-truth Gaussian scene rendered from rings of cameras.

Ground truth: thin surface Gaussians (discs tangent to the surface) on a textured sphere / box above a textured
ground disc, textures from scikit-learn's bundled sample photos (mini) or a seeded checkerboard (smoke), with a
small view-dependent degree-1 SH term so SH matter. Training views lie on two rings, test views between them on
a third (held out). Training starts from a noisy subset of the ground-truth centres with their colours, like an
SfM point cloud. Rendering the ground truth is deterministic and cached under the context's cache dir.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from workloads.compgs.cameras import ring_cameras
from workloads.compgs.model import rgb_to_dc
from workloads.compgs.sparse_rasterizer import render_sparse

CACHE_VERSION = 1
SCENES = {
    # name: (object, object texture, ground texture, GT Gaussians on object / ground, size, train views per ring, test)
    "smoke": ("sphere", "checker", "checker2", 300, 200, 24, 4, 2),
    "smoke2": ("box", "checker2", "checker", 300, 200, 24, 4, 2),
    "mini": ("sphere", "china.jpg", "flower.jpg", 6000, 4000, 64, 12, 6),
    "mini2": ("box", "flower.jpg", "china.jpg", 6000, 4000, 64, 12, 6),
}
N_INIT = {"smoke": 150, "smoke2": 150, "mini": 1500, "mini2": 1500}
RADIUS, HEIGHTS, TEST_HEIGHT = 2.6, (0.7, 1.5), 1.1


def _texture(name: str) -> np.ndarray:
    if name.endswith(".jpg"):
        from sklearn.datasets import load_sample_images

        imgs = load_sample_images()
        return imgs.images[[Path(f).name for f in imgs.filenames].index(name)].astype(np.float32) / 255.0
    k = 6 if name == "checker" else 4
    yy, xx = np.mgrid[0:64, 0:64] // (64 // k)
    a = np.array([0.9, 0.3, 0.2] if name == "checker" else [0.2, 0.7, 0.3], np.float32)
    b = np.array([0.2, 0.3, 0.9] if name == "checker" else [0.9, 0.8, 0.2], np.float32)
    return np.where(((xx + yy) % 2 == 0)[..., None], a, b)


def _sample(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    h, w = tex.shape[:2]
    return tex[np.clip((v * (h - 1)).astype(int), 0, h - 1), np.clip((u * (w - 1)).astype(int), 0, w - 1)]


def _quat_z_to(normals: np.ndarray) -> np.ndarray:
    """Quaternions (w, x, y, z) rotating +z onto each normal (so a flat disc lies on the surface)."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(np.broadcast_to(z, normals.shape), normals)
    w = 1.0 + normals @ z
    q = np.concatenate([w[:, None], axis], 1)
    q[w < 1e-6] = [0.0, 1.0, 0.0, 0.0]  # normal = -z: half turn about x
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def _surface(kind: str, n: int, rng: np.random.Generator):
    """Points, normals, texture coordinates and area of the object surface."""
    if kind == "sphere":
        r = 0.55
        d = rng.normal(size=(n, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        u = 0.5 + np.arctan2(d[:, 1], d[:, 0]) / (2 * math.pi)
        v = 0.5 - np.arcsin(np.clip(d[:, 2], -1, 1)) / math.pi
        return d * r + [0, 0, 0.05], d, u, v, 4 * math.pi * r * r
    half = 0.45
    face = rng.integers(0, 5, n)  # 4 sides + top (the bottom touches nothing visible)
    a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    normals = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], float)[face]
    pts = normals * half
    t1 = np.where(np.abs(normals[:, 2:3]) > 0.5, [1, 0, 0], [0, 0, 1]).astype(float)
    t2 = np.cross(normals, t1)
    pts = pts + half * (a[:, None] * t1 + b[:, None] * t2) + [0, 0, -0.1]
    return pts, normals, (a + 1) / 2 * 0.2 + face * 0.2, (b + 1) / 2, 5 * (2 * half) ** 2


def ground_truth(name: str) -> dict:
    """GT Gaussian parameters of a generated scene (numpy RNG seeded by the scene name: fully deterministic)."""
    kind, tex_obj, tex_ground, n_obj, n_ground, *_ = SCENES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    p, nrm, u, v, area = _surface(kind, n_obj, rng)
    col = _sample(_texture(tex_obj), u, v)
    rad = 1.25 * np.sqrt(rng.uniform(0, 1, n_ground))
    ang = rng.uniform(0, 2 * math.pi, n_ground)
    pg = np.stack([rad * np.cos(ang), rad * np.sin(ang), np.full(n_ground, -0.55)], 1)
    colg = _sample(_texture(tex_ground), pg[:, 0] / 2.5 + 0.5, pg[:, 1] / 2.5 + 0.5)
    pos = np.concatenate([p, pg])
    normals = np.concatenate([nrm, np.tile([0.0, 0.0, 1.0], (n_ground, 1))])
    spacing = np.concatenate([np.full(n_obj, math.sqrt(area / n_obj)), np.full(n_ground, math.sqrt(math.pi * 1.25 ** 2 / n_ground))])
    scale = np.log(np.stack([0.7 * spacing, 0.7 * spacing, 0.1 * spacing], 1))
    colors = np.concatenate([col, colg])
    sh = np.zeros((len(pos), 15, 3), np.float32)
    sh[:, :3, :] = 0.15 * rng.normal(size=(len(pos), 3, 1)) * colors[:, None, :]  # view-dependent tint (degree 1)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    return {"pos": t(pos), "dc": rgb_to_dc(t(colors)), "sh": t(sh), "scale": t(scale), "rot": t(_quat_z_to(normals)),
            "opacity": torch.full((len(pos),), 4.0), "colors": t(colors)}


def _views(gt: dict, cams: list[dict]) -> list[dict]:
    sh = torch.cat([gt["dc"][:, None, :], gt["sh"]], 1)
    out = []
    with torch.no_grad():
        for cam in cams:
            img = render_sparse(gt["pos"], gt["scale"], gt["rot"], gt["opacity"], sh, 3, cam)["image"].clamp(0, 1)
            out.append({"image": img, "camera": cam})
    return out


def make_scene(name: str, cache_dir: Path, image_size: int = 0) -> dict:
    """train/test views, init points/colours and scene extent of a generated scene (cached)."""
    if name not in SCENES:
        raise KeyError(name)
    *_, default_size, per_ring, n_test = SCENES[name]
    size = image_size or default_size
    path = Path(cache_dir) / "compgs" / f"{name}-{size}px-v{CACHE_VERSION}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return torch.load(path, weights_only=True)  # a cache file never runs code
        gt = ground_truth(name)
        train_cams = [c for i, h in enumerate(HEIGHTS)
                      for c in ring_cameras(per_ring, radius=RADIUS, height=h, size=size, phase=0.25 * i)]
        test_cams = ring_cameras(n_test, radius=RADIUS, height=TEST_HEIGHT, size=size, phase=0.5)
        g = torch.Generator().manual_seed(1234)
        pick = torch.randperm(len(gt["pos"]), generator=g)[:N_INIT[name]]
        points = gt["pos"][pick] + 0.02 * torch.randn(len(pick), 3, generator=g)
        scene = {"train": _views(gt, train_cams), "test": _views(gt, test_cams), "points": points,
                 "colors": gt["colors"][pick], "background": torch.zeros(3)}
        torch.save(scene, path)
        return scene
