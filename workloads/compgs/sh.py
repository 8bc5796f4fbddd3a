"""Real spherical-harmonics basis up to degree 3, as used by 3DGS colour (dissertation Sec. 3.1).

Each Gaussian stores a DC colour (degree 0) and 15 x 3 higher-order coefficients (degrees 1-3);
together with position, scale, rotation and opacity these are the 59 values per Gaussian.
"""
from __future__ import annotations

import torch

SH_C0 = 0.28209479177387814  # 1 / (2 sqrt(pi))
SH_C1 = 0.4886025119029199  # sqrt(3 / (4 pi))
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
         -0.4570457994644658, 1.445305721320277, -0.5900435899266435)


def num_sh_coeffs(degree: int) -> int:
    """(degree + 1)^2 basis functions."""
    if not 0 <= degree <= 3:
        raise ValueError(f"SH degree must be 0..3, got {degree}; 3DGS and CompGS use at most degree 3")
    return (degree + 1) ** 2


def sh_basis(dirs: torch.Tensor, degree: int) -> torch.Tensor:
    """Real SH basis values Y_lm(d) for unit directions ``dirs`` (N, 3) -> (N, (degree+1)^2).

    Sign and ordering follow the 3DGS convention so coefficients trained by 3DGS are interchangeable.
    """
    n = num_sh_coeffs(degree)
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [SH_C2[0] * x * y, SH_C2[1] * y * z, SH_C2[2] * (2 * zz - xx - yy),
                SH_C2[3] * x * z, SH_C2[4] * (xx - yy)]
    if degree >= 3:
        out += [SH_C3[0] * y * (3 * xx - yy), SH_C3[1] * x * y * z, SH_C3[2] * y * (4 * zz - xx - yy),
                SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy), SH_C3[4] * x * (4 * zz - xx - yy),
                SH_C3[5] * z * (xx - yy), SH_C3[6] * x * (xx - 3 * yy)]
    basis = torch.stack(out, dim=-1)
    assert basis.shape[-1] == n
    return basis


def sh_to_rgb(coeffs: torch.Tensor, dirs: torch.Tensor, degree: int) -> torch.Tensor:
    """Colour = clamp(sum_k c_k Y_k(d) + 0.5, 0) for coeffs (N, K, 3), view dirs (N, 3) -> (N, 3).

    The +0.5 offset and clamp at zero are the 3DGS convention (DC coefficient 0 means mid-grey).
    """
    k = num_sh_coeffs(degree)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = sh_basis(dirs, degree)
    rgb = (coeffs[:, :k, :] * basis[:, :, None]).sum(1) + 0.5
    return rgb.clamp_min(0.0)
