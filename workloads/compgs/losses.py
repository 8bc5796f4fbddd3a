"""3DGS photometric loss L = (1-0.2) L1 + 0.2 D-SSIM and CompGS opacity regularisation (dissertation Sec. 3.1)."""
from __future__ import annotations

import torch

from workloads.common.metrics import ssim

LAMBDA_DSSIM = 0.2  # 3DGS weight of the D-SSIM term


def photometric_loss(render: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(1 - 0.2) |I - I_gt|_1 + 0.2 (1 - SSIM(I, I_gt)) (3DGS Eq. 7)."""
    l1 = (render - target).abs().mean()
    return (1 - LAMBDA_DSSIM) * l1 + LAMBDA_DSSIM * (1 - ssim(render, target))


def opacity_l1(opacity_logits: torch.Tensor) -> torch.Tensor:
    """sum_i sigma_i with sigma = sigmoid(logit): the CompGS regulariser, weighted by lambda_reg outside."""
    return torch.sigmoid(opacity_logits).sum()
