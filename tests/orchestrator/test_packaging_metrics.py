"""One SSIM and one PSNR (issue 16 item 15): ``workloads.common.metrics``, which CompGS trains and evaluates with,
checked in float64 against torchmetrics' ``StructuralSimilarityIndexMeasure`` / ``PeakSignalNoiseRatio``.

Padding: 3DGS's SSIM (ours) zero-pads the 11x11 window, torchmetrics reflect-pads. So the maps agree on every
pixel whose window lies inside the image, and on *every* pixel once torchmetrics is given the zero-padded images
(its window then sees the same zeros ours does). torchmetrics is a dev-extra dependency."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

tm_image = pytest.importorskip("torchmetrics.image")

from workloads.common.metrics import gaussian_window, psnr, ssim, ssim_map  # noqa: E402
from workloads.compgs.losses import LAMBDA_DSSIM, photometric_loss  # noqa: E402

PAD = 5  # 11x11 window: the border where zero and reflect padding differ


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 20, 24, generator=g, dtype=torch.float64)
    b = (a + 0.1 * torch.randn(a.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return a, b


def _tm_ssim_image(a, b):
    metric = tm_image.StructuralSimilarityIndexMeasure(data_range=1.0, kernel_size=11, sigma=1.5, gaussian_kernel=True,
                                                       return_full_image=True).double()
    return metric(a, b)[1]


def test_psnr_matches_torchmetrics(images):
    a, b = images
    import math

    for x, y in ((a[:1], b[:1]), (a, b)):  # one image, and a batch (MSE over every element, as 3DGS's psnr)
        metric = tm_image.PeakSignalNoiseRatio(data_range=1.0)
        metric.set_dtype(torch.float64)
        # torchmetrics turns ln into log10 with a float32 constant: equal to ~1e-7 relative, never better
        assert psnr(x, y) == pytest.approx(float(metric(x, y)), rel=1e-6)
        assert psnr(x, y) == pytest.approx(10 * math.log10(1 / float(((x - y) ** 2).mean())), rel=1e-14)
    assert psnr(a, a) == float("inf")


def test_ssim_map_matches_torchmetrics_inside_the_border_and_everywhere_on_zero_padded_images(images):
    a, b = images
    ours = ssim_map(a, b)
    assert ours.shape == a.shape
    inside = (..., slice(PAD, -PAD), slice(PAD, -PAD))
    assert torch.allclose(ours[inside], _tm_ssim_image(a, b)[inside], rtol=0, atol=1e-12)
    zero_padded = _tm_ssim_image(F.pad(a, (PAD,) * 4), F.pad(b, (PAD,) * 4))[inside]
    assert torch.allclose(ours, zero_padded, rtol=0, atol=1e-12)
    # the scalar is 3DGS's size_average mean over every pixel, border included
    assert float(ssim(a, b)) == pytest.approx(float(zero_padded.mean()), rel=1e-12)
    # (C, H, W) is one image of the batch
    assert torch.allclose(ssim_map(a[1], b[1]), ours[1], rtol=0, atol=0)


def test_the_window_is_3dgs_create_window():
    import math

    one_d = torch.tensor([math.exp(-((x - 5) ** 2) / (2 * 1.5**2)) for x in range(11)], dtype=torch.float64)
    one_d = one_d / one_d.sum()
    assert torch.allclose(gaussian_window(dtype=torch.float64), one_d[:, None] @ one_d[None, :], rtol=0, atol=1e-15)
    assert float(gaussian_window(dtype=torch.float64).sum()) == pytest.approx(1.0, abs=1e-15)


def test_compgs_loss_uses_the_shared_ssim(images):
    a, b = images[0][0], images[1][0]
    expected = (1 - LAMBDA_DSSIM) * float((a - b).abs().mean()) + LAMBDA_DSSIM * (1 - float(_tm_ssim_image(
        F.pad(a[None], (PAD,) * 4), F.pad(b[None], (PAD,) * 4))[0][:, PAD:-PAD, PAD:-PAD].mean()))
    assert float(photometric_loss(a, b)) == pytest.approx(expected, rel=1e-12)


def test_compgs_evaluates_the_8bit_images_3dgs_writes_and_reads_back(tmp_path):
    """An independent round trip: torchvision's save_image to a PNG, PIL + to_tensor back (3DGS render.py ->
    metrics.py)."""
    from PIL import Image
    from torchvision.transforms.functional import to_tensor
    from torchvision.utils import save_image

    from workloads.compgs.evaluate import as_saved_png

    g = torch.Generator().manual_seed(1)
    image = (torch.rand(3, 9, 7, generator=g) * 1.2 - 0.1)  # a render may leave [0, 1]
    image[0, 0, :3] = torch.tensor([0.5 / 255, 1.5 / 255, 254.5 / 255])  # the rounding ties
    save_image(image, tmp_path / "view.png")
    back = to_tensor(Image.open(tmp_path / "view.png"))
    assert torch.equal(as_saved_png(image), back)
