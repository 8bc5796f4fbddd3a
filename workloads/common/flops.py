"""FLOP counting: measured with ``torch.utils.flop_counter`` and analytic for ViT blocks.

Convention (as FlopCounterMode): a multiply-add counts 2 FLOPs; softmax, norms and activations are not
counted. GFLOPs in the papers' tables count multiply-adds (MACs), i.e. half of these numbers.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


@torch.no_grad()
def count_flops(model: nn.Module, *inputs: torch.Tensor) -> int:
    """Total FLOPs of one forward pass over ``inputs`` (all samples together)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    was = model.training
    model.eval()
    # The fused CPU attention kernel is invisible to FlopCounterMode; the math path is counted op by op.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(*inputs)
    model.train(was)
    return int(counter.get_total_flops())


def gflops_per_image(model: nn.Module, input_shape: tuple[int, ...], device: str | torch.device = "cpu",
                     macs: bool = True) -> float:
    """GFLOPs of one image of shape (C, H, W); ``macs=True`` reports multiply-adds as the papers do."""
    x = torch.zeros(1, *input_shape, device=device)
    flops = count_flops(model.to(device), x)
    return flops / (2 if macs else 1) / 1e9


def vit_block_flops(num_tokens: int, dim: int, mlp_ratio: float = 4.0, num_heads: int | None = None,
                    attn_dim: int | None = None) -> int:
    """Analytic FLOPs of one pre-norm ViT block on ``num_tokens`` tokens (2 FLOPs per multiply-add).

    qkv projection 3·N·D·Da, attention scores N²·Da, weighted sum N²·Da, output projection N·Da·D,
    MLP 2·N·D·(r·D); ``attn_dim`` Da = total head width (D unless heads are dropped, as AdaViT does).
    The head count does not change the cost (it only splits Da)."""
    n, d = num_tokens, dim
    da = attn_dim if attn_dim is not None else d
    hidden = int(d * mlp_ratio)
    macs = 3 * n * d * da + 2 * n * n * da + n * da * d + 2 * n * d * hidden
    return 2 * macs
