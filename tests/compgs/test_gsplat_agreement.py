import math

import pytest
import torch

from workloads.compgs.rasterizer import render


@pytest.fixture
def render_gsplat():
    pytest.importorskip("gsplat")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from workloads.compgs.gsplat_backend import render_gsplat

    return render_gsplat


def _camera(dev):
    return {"world_to_cam": torch.eye(4, device=dev), "fx": 60.0, "fy": 60.0, "cx": 31.5, "cy": 31.5,
            "width": 64, "height": 64}


def _random_scene(seed, n, spread, scale, scale_jitter, dev):
    """Gaussians around (0, 0, 3) in front of ``_camera``: means, log-scales, quaternions, opacity logits, SH (deg 3)."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g) * spread + torch.tensor([0, 0, 3.0])
    log_scales = torch.full((n, 3), math.log(scale))
    if scale_jitter:
        log_scales = log_scales + scale_jitter * torch.randn(n, 3, generator=g)
    quats = torch.randn(n, 4, generator=g)
    opac = torch.randn(n, generator=g)
    sh = 0.3 * torch.randn(n, 16, 3, generator=g)
    return [t.to(dev) for t in (means, log_scales, quats, opac, sh)]


@pytest.mark.gpu
def test_torch_reference_and_gsplat_agree_on_the_same_scene(render_gsplat):
    dev = torch.device("cuda")
    scene, cam = _random_scene(0, 200, 0.4, 0.05, 0.3, dev), _camera(dev)
    ref = render(*scene, 3, cam)["image"]
    fast = render_gsplat(*scene, 3, cam)["image"]
    # Tile-based culling and alpha thresholds differ slightly; the images must agree to within ~1/255 on average.
    assert (ref - fast).abs().mean().item() < 4e-3
    assert (ref - fast).abs().max().item() < 0.1


@pytest.mark.gpu
def test_gsplat_composites_the_background_like_the_reference(render_gsplat):
    dev = torch.device("cuda")
    scene, cam = _random_scene(1, 100, 0.3, 0.04, 0.0, dev), _camera(dev)
    bg = torch.tensor([1.0, 0.5, 0.0])
    ref = render(*scene, 3, cam, bg.to(dev))["image"]
    fast = render_gsplat(*scene, 3, cam, bg)
    assert (ref - fast["image"]).abs().mean().item() < 4e-3
    # where nothing is drawn the pixel is exactly the background
    empty = fast["alpha"] < 1e-6
    assert empty.any()
    torch.testing.assert_close(fast["image"][:, empty].T, bg.to(dev).expand(int(empty.sum()), 3))


@pytest.mark.gpu
def test_gsplat_view_reports_every_gaussian_even_when_some_are_off_screen(render_gsplat):
    from workloads.compgs.render_backend import render_view

    dev = torch.device("cuda")
    n = 50
    pos = torch.zeros(n, 3, device=dev)
    pos[:, 2] = 3.0
    pos[:10, 0] = 100.0  # far outside the view
    attrs = {"pos": pos.requires_grad_(True), "scale": torch.full((n, 3), math.log(0.05), device=dev),
             "rot": torch.tensor([[1.0, 0, 0, 0]], device=dev).repeat(n, 1), "opacity": torch.zeros(n, 1, device=dev),
             "dc": torch.rand(n, 3, device=dev), "sh": torch.zeros(n, 15, 3, device=dev)}
    cam = _camera(dev)
    out = render_view(attrs, 3, cam, torch.zeros(3, device=dev), backend="gsplat")
    assert out["visible"].shape == (n,) and not out["visible"][:10].any() and out["visible"][10:].all()
    out["image"].sum().backward()
    assert out["mean2d_view"]().shape == (n, 2)

