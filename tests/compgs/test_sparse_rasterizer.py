import torch

from workloads.compgs.cameras import ring_cameras
from workloads.compgs.rasterizer import render
from workloads.compgs.sparse_rasterizer import footprint_radius, render_sparse


def _scene(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, generator=g) * 0.4, torch.log(torch.rand(n, 3, generator=g) * 0.08 + 0.01),
            torch.randn(n, 4, generator=g), torch.randn(n, generator=g) + 1.0, torch.randn(n, 16, 3, generator=g) * 0.3]


def test_sparse_matches_dense_image_and_gradients():
    params = [t.requires_grad_() for t in _scene()]
    cam = ring_cameras(3, radius=3.0, height=1.0, size=40)[1]
    dense = render(*params, 3, cam)["image"]
    sparse = render_sparse(*params, 3, cam)["image"]
    assert torch.allclose(dense, sparse, atol=1e-5)
    w = torch.rand_like(dense)
    g_dense = torch.autograd.grad((dense * w).sum(), params)
    g_sparse = torch.autograd.grad((sparse * w).sum(), params)
    for a, b in zip(g_dense, g_sparse):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


def test_footprint_radius_bounds_where_alpha_falls_below_threshold():
    cov = torch.tensor([[[4.0, 0.0], [0.0, 1.0]]])
    r = footprint_radius(cov, torch.tensor([1.0]))
    # along the major axis (sigma 2) alpha = exp(-d^2 / 8) reaches 1/255 at d = sqrt(8 ln 255)
    assert torch.allclose(r, torch.sqrt(torch.tensor(8.0) * torch.log(torch.tensor(255.0))))
    assert footprint_radius(cov, torch.tensor([0.001])).item() == 0.0


def test_empty_view_renders_background():
    params = _scene(5)
    params[0] = params[0] + torch.tensor([0.0, 0.0, 50.0])  # far outside the ring's field of view
    cam = ring_cameras(2, radius=3.0, height=0.0, size=16)[0]
    out = render_sparse(*params, 3, cam, background=torch.tensor([0.2, 0.4, 0.6]))
    assert torch.allclose(out["image"], torch.tensor([0.2, 0.4, 0.6])[:, None, None].expand(3, 16, 16))
