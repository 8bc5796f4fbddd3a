"""NOLA/LoRA layer math against independently built expectations (Eq. 3.1, 3.2)."""
import math

import pytest
import torch
from torch import nn

from workloads.nola.adapted import AdaptedLayer, near_square_shape
from workloads.nola.bases import random_bases
from workloads.nola.lora import LoRADelta, lora_delta
from workloads.nola.nola import BasisBank, NOLADelta, nola_delta


def elementary_bases(rows: int, cols: int) -> torch.Tensor:
    """rows·cols one-hot matrices: Σ cᵢ Eᵢ is c reshaped to (rows, cols)."""
    return torch.eye(rows * cols, dtype=torch.float64).reshape(rows * cols, rows, cols)


def test_nola_with_identity_bases_reproduces_lora():
    out_f, in_f, r, c = 3, 4, 2, 2.0
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(r, in_f, generator=gen, dtype=torch.float64)
    b = torch.randn(out_f, r, generator=gen, dtype=torch.float64)
    # k = r·in and l = out·r with one-hot bases: α is A flattened and β is B flattened.
    got = nola_delta(a.reshape(-1), b.reshape(-1), elementary_bases(r, in_f), elementary_bases(out_f, r), c / r)
    expected = torch.zeros(out_f, in_f, dtype=torch.float64)
    for i in range(out_f):
        for j in range(in_f):
            expected[i, j] = (c / r) * sum(b[i, t] * a[t, j] for t in range(r))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got, lora_delta(a, b, c / r))


def test_nola_delta_is_the_equation_by_hand():
    alpha, beta = torch.tensor([1.0, -2.0]), torch.tensor([0.5])
    a = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])        # k=2 bases of shape (r=1, in=2)
    b = torch.tensor([[[2.0], [3.0]]])                    # l=1 basis of shape (out=2, r=1)
    # (0.5·[2,3]ᵀ)(1·[1,0] - 2·[0,1]) = [[1,-2],[1.5,-3]], scale 0.5
    expected = 0.5 * torch.tensor([[1.0, -2.0], [1.5, -3.0]])
    torch.testing.assert_close(nola_delta(alpha, beta, a, b, 0.5), expected)


def test_bases_are_reproducible_and_chunking_keeps_memory_per_chunk():
    x = random_bases(3, 10, (2, 5), chunk=4)
    y = random_bases(3, 10, (2, 5), chunk=4)
    assert torch.equal(x, y)
    assert not torch.equal(x, random_bases(4, 10, (2, 5), chunk=4))
    assert x.shape == (10, 2, 5)
    # distinct elements differ (independent streams per chunk)
    assert not torch.equal(x[0], x[4])


def test_delta_is_zero_at_init_and_parameter_counts():
    bank = BasisBank(0, k=7, l=5, rank=2, out_features=6, in_features=4)
    nola = NOLADelta(bank)
    assert torch.count_nonzero(nola()) == 0 and nola.num_params() == 12
    lora = LoRADelta(6, 4, rank=2)
    assert torch.count_nonzero(lora()) == 0 and lora.num_params() == 2 * (6 + 4)


def test_delta_survives_save_and_load(tmp_path):
    bank = BasisBank(11, k=9, l=8, rank=2, out_features=5, in_features=3)
    nola = NOLADelta(bank)
    with torch.no_grad():
        nola.beta.normal_()
    torch.save(nola.state_dict(), tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    # the checkpoint holds coefficients and the seeds only (bases and offset A₀ are regenerated), never the bases
    assert set(state) == {"alpha", "beta", "_extra_state", "bank._extra_state"}
    fresh = NOLADelta(BasisBank(11, k=9, l=8, rank=2, out_features=5, in_features=3))
    fresh.load_state_dict(state)
    assert torch.equal(fresh(), nola())
    wrong = NOLADelta(BasisBank(12, k=9, l=8, rank=2, out_features=5, in_features=3))
    with pytest.raises(ValueError, match="seed"):
        wrong.load_state_dict(state)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to compare against")
def test_delta_identical_across_devices():
    bank = BasisBank(5, k=16, l=16, rank=2, out_features=8, in_features=8)
    nola = NOLADelta(bank)
    with torch.no_grad():
        nola.beta.normal_()
    cpu = nola().double()
    gpu = nola.to("cuda")().double().cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-5, atol=1e-6)


def test_bases_identical_across_target_devices():
    # Bases are drawn in float32 on the CPU generator and only then cast or moved, so every dtype/device sees the same draw.
    x32 = random_bases(2, 6, (3, 3), dtype=torch.float32)
    x64 = random_bases(2, 6, (3, 3), dtype=torch.float64)
    torch.testing.assert_close(x64.float(), x32)


def _perturb(layer):
    with torch.no_grad():
        for p in layer.parameters():
            if p.requires_grad:
                p.normal_()


@pytest.mark.parametrize("method", ["lora", "nola"])
def test_merged_linear_matches_adapter_path(method):
    torch.manual_seed(0)
    base = nn.Linear(6, 9)
    delta = LoRADelta(9, 6, 2) if method == "lora" else NOLADelta(BasisBank(1, 5, 5, 2, 9, 6))
    layer = AdaptedLayer(base, {(0, 9): delta})
    _perturb(layer)
    x = torch.randn(4, 6)
    expected = x @ (base.weight + delta()).T + base.bias
    y = layer(x)
    torch.testing.assert_close(y, expected)
    layer.merge()
    torch.testing.assert_close(layer(x), y, rtol=1e-5, atol=1e-5)


def test_merged_gpt2_conv1d_qv_slices_match():
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    base = Conv1D(3 * 4, 4)          # fused [Q|K|V], weight (in=4, out=12)
    q, v = NOLADelta(BasisBank(0, 6, 6, 1, 4, 4)), NOLADelta(BasisBank(0, 6, 6, 1, 4, 4))
    layer = AdaptedLayer(base, {(0, 4): q, (8, 12): v})
    _perturb(layer)
    x = torch.randn(2, 3, 4)
    full = torch.zeros(12, 4)
    full[0:4], full[8:12] = q(), v()
    expected = x @ (base.weight + full.T) + base.bias
    y = layer(x)
    torch.testing.assert_close(y, expected)
    assert torch.equal(layer.delta_matrix()[4:8], torch.zeros(4, 4))  # K untouched
    layer.merge()
    torch.testing.assert_close(layer(x), y, rtol=1e-5, atol=1e-5)


def test_conv_kernel_adapted_as_near_square_matrix():
    assert near_square_shape(8 * 3 * 3 * 3) == (12, 18)
    assert near_square_shape(13) == (1, 13)
    torch.manual_seed(0)
    base = nn.Conv2d(3, 8, 3, padding=1)
    m, n = near_square_shape(base.weight.numel())
    layer = AdaptedLayer(base, {(0, m): NOLADelta(BasisBank(0, 4, 4, 2, m, n))})
    _perturb(layer)
    x = torch.randn(1, 3, 5, 5)
    w = base.weight + layer.deltas[0]().reshape(8, 3, 3, 3)
    expected = nn.functional.conv2d(x, w, base.bias, padding=1)
    torch.testing.assert_close(layer(x), expected)
    y = layer(x)
    layer.merge()
    torch.testing.assert_close(layer(x), y, rtol=1e-5, atol=1e-5)


def test_gradients_reach_only_coefficients():
    base = nn.Linear(4, 4)
    layer = AdaptedLayer(base, {(0, 4): NOLADelta(BasisBank(0, 3, 3, 1, 4, 4))})
    layer(torch.randn(2, 4)).sum().backward()
    assert base.weight.grad is None
    assert layer.deltas[0].beta.grad is not None
    # β = 0 at init, so ∂L/∂α = 0 exactly while ∂L/∂β is non-zero (LoRA's B = 0 convention)
    assert torch.count_nonzero(layer.deltas[0].alpha.grad) == 0
    assert math.isfinite(float(layer.deltas[0].beta.grad.abs().sum()))
