import pytest
import torch

from workloads.compgs.bitquant import absmax_quantize, absmax_roundtrip


def test_absmax_int4_by_hand():
    x = torch.tensor([[0.7, -2.0], [-0.35, 1.0], [0.1, 0.0]], dtype=torch.float64)
    q, scale = absmax_quantize(x, 4)  # qmax = 7; column scales 0.7/7 = 0.1 and 2/7
    assert torch.allclose(scale, torch.tensor([[0.1, 2.0 / 7]], dtype=torch.float64))
    assert q.tolist() == [[7, -7], [-4, 4], [1, 0]]  # -3.5 rounds half to even -> -4; 1*7/2 = 3.5 -> 4
    assert torch.allclose(absmax_roundtrip(x, 4)[:, 0], torch.tensor([0.7, -0.4, 0.1], dtype=torch.float64))


def test_absmax_error_bound_and_bad_bits():
    x = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for b in (16, 8, 4):
        step = x.abs().amax(0) / (2 ** (b - 1) - 1)
        assert ((absmax_roundtrip(x, b) - x).abs() <= step / 2 + 1e-12).all()
    with pytest.raises(ValueError, match="bits"):
        absmax_quantize(x, 1)
