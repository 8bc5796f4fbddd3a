"""Metrics against hand-computed values."""
from __future__ import annotations

import math

import torch

from workloads.common.metrics import measure_latency, per_class_accuracy, psnr, ssim, topk_errors


def test_topk_errors_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0, 0.0, 0.0, 0.0],   # top1=1 (target 1: hit)
                           [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],   # target 2 is rank 3: top1 miss, top5 hit
                           [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],   # target 5 is rank 6: miss both
                           [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]])  # target 3: hit
    err = topk_errors(logits, torch.tensor([1, 2, 5, 3]), ks=(1, 5))
    assert err[1] == 50.0 and err[5] == 25.0


def test_per_class_accuracy_with_absent_class():
    # class 0: 1/1 right, class 1: 2/3 right, class 2: 0/1 right, class 3: no samples
    acc = per_class_accuracy(torch.tensor([0, 0, 1, 1, 0]), torch.tensor([0, 1, 1, 1, 2]), 4)
    assert acc[0] == 100.0 and abs(acc[1].item() - 200.0 / 3) < 1e-4 and acc[2] == 0.0 and math.isnan(acc[3])


def test_psnr_from_equation():
    a = torch.zeros(3, 4, 4)
    b = torch.full((3, 4, 4), 0.1)
    assert abs(psnr(a, b) - 20.0) < 1e-4  # 10 log10(1 / 0.01)
    assert psnr(a, a) == float("inf")


def test_ssim_identity_and_constant_images_float64_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 16, 16, generator=g)
    assert abs(ssim(x, x).item() - 1.0) < 1e-5
    # two constant images, zero-padded borders aside, have sigma=0 so SSIM = (2ab+c1)/(a^2+b^2+c1) in the
    # interior; check the centre pixel's map through a 1x1 window where padding cannot interfere
    a, b = torch.full((1, 8, 8), 0.2), torch.full((1, 8, 8), 0.6)
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert abs(ssim(a, b, window=1).item() - expected) < 1e-5


def test_measure_latency_reports_ordered_percentiles():
    t = measure_latency(lambda: sum(range(2000)), warmup=1, iters=9, device="cpu")
    assert set(t) == {"median_ms", "p10_ms", "p90_ms", "mean_ms"}
    assert 0 < t["p10_ms"] <= t["median_ms"] <= t["p90_ms"]
