"""3D Gaussian geometry: covariance from scale and rotation, projection to a 2D covariance (3DGS, Sec. 3.1)."""
from __future__ import annotations

import torch


def quat_to_rotmat(q: torch.Tensor) -> torch.Tensor:
    """Quaternions (N, 4) in (w, x, y, z) order, normalised here -> rotation matrices (N, 3, 3).

    CompGS quantizes the quaternion before this normalisation, so the renderer must normalise.
    """
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], -1).reshape(-1, 3, 3)


def covariance_3d(log_scale: torch.Tensor, quat: torch.Tensor) -> torch.Tensor:
    """Sigma = R S S^T R^T with S = diag(exp(log_scale)) (3DGS Eq. 6); (N, 3), (N, 4) -> (N, 3, 3)."""
    m = quat_to_rotmat(quat) * torch.exp(log_scale)[:, None, :]
    return m @ m.transpose(1, 2)


def project_gaussians(means: torch.Tensor, cov3d: torch.Tensor, world_to_cam: torch.Tensor,
                      fx: float, fy: float, cx: float, cy: float, low_pass: float = 0.3):
    """EWA splatting: pixel centres, depths and 2D covariances J W Sigma W^T J^T (+ low-pass 0.3 px, as 3DGS).

    ``world_to_cam`` is a 4x4 matrix in the OpenCV convention (x right, y down, z forward).
    Returns (mean2d (N, 2), depth (N,), cov2d (N, 2, 2)).
    """
    r, t = world_to_cam[:3, :3], world_to_cam[:3, 3]
    pc = means @ r.T + t
    x, y, z = pc.unbind(-1)
    zc = z.clamp_min(1e-6)
    mean2d = torch.stack([fx * x / zc + cx, fy * y / zc + cy], -1)
    zero = torch.zeros_like(z)
    jac = torch.stack([fx / zc, zero, -fx * x / (zc * zc), zero, fy / zc, -fy * y / (zc * zc)], -1).reshape(-1, 2, 3)
    jw = jac @ r
    cov2d = jw @ cov3d @ jw.transpose(1, 2)
    cov2d = cov2d + low_pass * torch.eye(2, dtype=cov2d.dtype, device=cov2d.device)
    return mean2d, z, cov2d
