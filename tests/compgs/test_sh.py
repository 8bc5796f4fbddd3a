import math

import torch

from workloads.compgs.sh import SH_C0, sh_basis, sh_to_rgb


def _fibonacci_sphere(n: int) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    r = torch.sqrt(1 - z * z)
    phi = math.pi * (3 - math.sqrt(5)) * i
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1)


def test_basis_is_orthonormal_on_the_sphere():
    # Closed-form real SH are orthonormal: integral Y_i Y_j dOmega = delta_ij (quadrature, 4 pi / n weights).
    d = _fibonacci_sphere(20000)
    y = sh_basis(d, 3)
    gram = y.T @ y * (4 * math.pi / d.shape[0])
    assert torch.allclose(gram, torch.eye(16, dtype=torch.float64), atol=2e-3)


def test_closed_form_values_per_degree():
    d = torch.tensor([[0.48, -0.6, 0.64]], dtype=torch.float64)
    x, y, z = 0.48, -0.6, 0.64
    pi = math.pi
    expected = [
        1 / (2 * math.sqrt(pi)),
        -math.sqrt(3 / (4 * pi)) * y, math.sqrt(3 / (4 * pi)) * z, -math.sqrt(3 / (4 * pi)) * x,
        0.5 * math.sqrt(15 / pi) * x * y, -0.5 * math.sqrt(15 / pi) * y * z,
        0.25 * math.sqrt(5 / pi) * (3 * z * z - 1), -0.5 * math.sqrt(15 / pi) * x * z,
        0.25 * math.sqrt(15 / pi) * (x * x - y * y),
        -0.25 * math.sqrt(35 / (2 * pi)) * y * (3 * x * x - y * y), 0.5 * math.sqrt(105 / pi) * x * y * z,
        -0.25 * math.sqrt(21 / (2 * pi)) * y * (5 * z * z - 1), 0.25 * math.sqrt(7 / pi) * z * (5 * z * z - 3),
        -0.25 * math.sqrt(21 / (2 * pi)) * x * (5 * z * z - 1), 0.25 * math.sqrt(105 / pi) * z * (x * x - y * y),
        -0.25 * math.sqrt(35 / (2 * pi)) * x * (x * x - 3 * y * y),
    ]
    for deg, n in [(0, 1), (1, 4), (2, 9), (3, 16)]:
        got = sh_basis(d, deg)[0]
        assert torch.allclose(got, torch.tensor(expected[:n], dtype=torch.float64), atol=1e-12)


def test_dc_only_colour():
    coeffs = torch.zeros(1, 16, 3, dtype=torch.float64)
    coeffs[0, 0] = torch.tensor([1.0, -1.0, 0.0])
    rgb = sh_to_rgb(coeffs, torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64), 3)
    assert torch.allclose(rgb[0], torch.tensor([SH_C0 + 0.5, 0.5 - SH_C0, 0.5], dtype=torch.float64))
