import math

import torch

from workloads.compgs.geometry import covariance_3d, quat_to_rotmat
from workloads.compgs.rasterizer import composite, render
from workloads.compgs.sh import SH_C0


def _camera(w=32, h=24, f=40.0):
    return {"world_to_cam": torch.eye(4, dtype=torch.float64), "fx": f, "fy": f, "cx": 15.0, "cy": 11.0,
            "width": w, "height": h}


def test_composite_matches_equation_by_hand():
    colors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    alphas = torch.tensor([[0.5, 0.4]], dtype=torch.float64)
    bg = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    # C = 0.5*red + 0.4*(1-0.5)*green + (1-0.5)(1-0.4)*bg
    assert torch.allclose(composite(colors, alphas, bg), torch.tensor([[0.5, 0.2, 0.3]], dtype=torch.float64))


def test_rotation_matrix_is_orthonormal_and_covariance_is_r_s2_rt():
    q = torch.tensor([[0.9, 0.1, -0.3, 0.2]], dtype=torch.float64)
    r = quat_to_rotmat(q)[0]
    assert torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    s = torch.tensor([[0.1, -0.5, 0.3]], dtype=torch.float64)
    expected = r @ torch.diag(torch.exp(2 * s[0])) @ r.T
    assert torch.allclose(covariance_3d(s, q)[0], expected)


def test_single_gaussian_renders_analytic_footprint():
    # Isotropic Gaussian at (0.1, -0.05, 2) with std 0.05: the 2D footprint is a Gaussian centred at
    # (f x/z + cx, f y/z + cy) with variance (f sigma / z)^2 + 0.3 (low-pass), on the z axis J is exact.
    f, z, sigma = 40.0, 2.0, 0.05
    means = torch.tensor([[0.1, -0.05, z]], dtype=torch.float64)
    logit = torch.tensor([math.log(0.8 / 0.2)], dtype=torch.float64)
    sh = torch.zeros(1, 16, 3, dtype=torch.float64)
    sh[0, 0] = (1.0 - 0.5) / SH_C0  # colour 1.0 in every channel
    out = render(means, torch.full((1, 3), math.log(sigma), dtype=torch.float64),
                 torch.tensor([[1.0, 0, 0, 0]], dtype=torch.float64), logit, sh, 0, _camera(f=f))
    img = out["image"][0]
    u0, v0 = f * 0.1 / z + 15.0, f * -0.05 / z + 11.0
    ys, xs = torch.meshgrid(torch.arange(24.0, dtype=torch.float64), torch.arange(32.0, dtype=torch.float64), indexing="ij")
    # Off-axis, J adds -f x / z^2 terms; compute the exact projected covariance independently.
    x, y = 0.1, -0.05
    jac = torch.tensor([[f / z, 0, -f * x / z**2], [0, f / z, -f * y / z**2]], dtype=torch.float64)
    cov = jac @ (sigma**2 * torch.eye(3, dtype=torch.float64)) @ jac.T + 0.3 * torch.eye(2, dtype=torch.float64)
    inv = torch.linalg.inv(cov)
    d = torch.stack([xs - u0, ys - v0], -1)
    a = 0.8 * torch.exp(-0.5 * torch.einsum("hwi,ij,hwj->hw", d, inv, d))
    a = torch.where(a >= 1 / 255, a.clamp(max=0.99), torch.zeros_like(a))
    assert torch.allclose(img, a, atol=1e-10)


def test_gradients_match_finite_differences_on_tiny_scene():
    g = torch.Generator().manual_seed(0)
    n = 4
    means = (torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.15 + torch.tensor([0, 0, 2.0], dtype=torch.float64))
    params = {
        "means": means, "log_scales": torch.full((n, 3), math.log(0.12), dtype=torch.float64)
        + 0.1 * torch.randn(n, 3, generator=g, dtype=torch.float64),
        "quats": torch.randn(n, 4, generator=g, dtype=torch.float64),
        "opacity_logits": torch.randn(n, generator=g, dtype=torch.float64),
        "sh": 0.3 * torch.randn(n, 4, 3, generator=g, dtype=torch.float64),
    }
    cam = _camera(w=12, h=10, f=20.0)
    cam["cx"], cam["cy"] = 5.5, 4.5
    target = torch.rand(3, 10, 12, generator=g, dtype=torch.float64)

    def loss(p):
        img = render(p["means"], p["log_scales"], p["quats"], p["opacity_logits"], p["sh"], 1, cam)["image"]
        return ((img - target) ** 2).sum()

    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    loss(leaves).backward()
    eps = 1e-6
    for name, leaf in leaves.items():
        flat = params[name].reshape(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 6)):
            plus = {k: v.clone() for k, v in params.items()}
            minus = {k: v.clone() for k, v in params.items()}
            plus[name].view(-1)[i] += eps
            minus[name].view(-1)[i] -= eps
            fd = (loss(plus) - loss(minus)) / (2 * eps)
            assert torch.isclose(leaf.grad.reshape(-1)[i], fd, rtol=1e-4, atol=1e-6), (name, i)
