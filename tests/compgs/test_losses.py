import numpy as np
import torch
from skimage.metrics import structural_similarity

from workloads.common.metrics import ssim_map
from workloads.compgs.losses import opacity_l1, photometric_loss


def test_ssim_matches_skimage_in_the_interior():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 32, 32, generator=g, dtype=torch.float64)
    b = (a + 0.1 * torch.randn(1, 32, 32, generator=g, dtype=torch.float64)).clamp(0, 1)
    _, ref = structural_similarity(a[0].numpy(), b[0].numpy(), gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, data_range=1.0, full=True, truncate=3.5)
    ours = ssim_map(a, b)[0].numpy()
    assert np.allclose(ours[5:-5, 5:-5], ref[5:-5, 5:-5], atol=1e-6)


def test_photometric_loss_by_hand_and_opacity_l1():
    a = torch.zeros(3, 16, 16, dtype=torch.float64)
    assert photometric_loss(a, a).item() == 0.0
    b = torch.full((3, 16, 16), 0.25, dtype=torch.float64)
    expected = 0.8 * 0.25 + 0.2 * (1 - ssim_map(a, b).mean().item())
    assert abs(photometric_loss(a, b).item() - expected) < 1e-12
    assert torch.isclose(opacity_l1(torch.tensor([0.0, 0.0, 100.0])), torch.tensor(2.0))
