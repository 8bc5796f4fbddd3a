"""The image-quality metrics agree with torchmetrics (issue 16 item 15), and the two SSIM/PSNR copies in
the tree (workloads.common.metrics, CompGS's losses/evaluate) agree with each other, so merging them into
one cannot change a number. torchmetrics is a test-only dependency (``pip install torchmetrics``)."""
from __future__ import annotations

import pytest
import torch

tm = pytest.importorskip("torchmetrics.functional.image")

from workloads.common.metrics import psnr, ssim  # noqa: E402
from workloads.compgs.evaluate import psnr as compgs_psnr  # noqa: E402
from workloads.compgs.losses import ssim_map  # noqa: E402

PAD = 5  # 11x11 window: the border where zero padding (ours, 3DGS) and reflect padding (torchmetrics) differ


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 40, 48, generator=g, dtype=torch.float64)
    b = (a + 0.1 * torch.randn(3, 40, 48, generator=g, dtype=torch.float64)).clamp(0, 1)
    return a, b


def test_psnr_matches_torchmetrics(images):
    a, b = images
    ref = float(tm.peak_signal_noise_ratio(a[None], b[None], data_range=1.0))
    assert psnr(a, b) == pytest.approx(ref, rel=1e-6)  # common.metrics computes the MSE in float32
    assert compgs_psnr(a, b) == pytest.approx(ref, rel=1e-6)  # its log10 runs on a float32 tensor


def test_ssim_matches_torchmetrics_inside_the_border(images):
    a, b = images
    _, full = tm.structural_similarity_index_measure(a[None], b[None], data_range=1.0, kernel_size=11, sigma=1.5,
                                                     gaussian_kernel=True, return_full_image=True)
    # torchmetrics reflect-pads, we zero-pad (3DGS): every pixel whose window lies inside the image agrees
    ours = ssim_map(a, b)[:, PAD:-PAD, PAD:-PAD]
    assert torch.allclose(ours, full[0, :, PAD:-PAD, PAD:-PAD], rtol=0, atol=1e-12)
    # the 3DGS reading averages over the zero-padded border too: the two copies agree on that
    assert float(ssim(a, b)) == pytest.approx(float(ssim_map(a, b).mean()), rel=1e-6)
