"""Cameras on a ring around the origin, for the scenes made here at mini/smoke scale (held-out views between)."""
from __future__ import annotations

import math

import torch


def look_at_world_to_cam(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """4x4 world-to-camera matrix, OpenCV convention (x right, y down, z towards ``target``)."""
    z = target - eye
    z = z / z.norm()
    x = torch.linalg.cross(z, up)
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    r = torch.stack([x, y, z])
    m = torch.eye(4, dtype=eye.dtype)
    m[:3, :3] = r
    m[:3, 3] = -r @ eye
    return m


def ring_cameras(n: int, *, radius: float, height: float, size: int, fov_deg: float = 50.0,
                 phase: float = 0.0) -> list[dict]:
    """``n`` cameras evenly spaced on a circle of ``radius`` at ``height``, all looking at the origin.

    A ``phase`` of half a step gives test views that lie between the training views.
    """
    if n < 1 or size < 1 or radius <= 0:
        raise ValueError(f"ring_cameras needs n >= 1, size >= 1 and radius > 0 (got n={n}, size={size}, radius={radius})")
    f = 0.5 * size / math.tan(math.radians(fov_deg) / 2)
    cams = []
    for i in range(n):
        a = 2 * math.pi * (i + phase) / n
        eye = torch.tensor([radius * math.cos(a), radius * math.sin(a), height], dtype=torch.float64)
        w2c = look_at_world_to_cam(eye, torch.zeros(3, dtype=torch.float64), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
        cams.append({"world_to_cam": w2c.float(), "fx": f, "fy": f, "cx": (size - 1) / 2, "cy": (size - 1) / 2,
                     "width": size, "height": size})
    return cams
