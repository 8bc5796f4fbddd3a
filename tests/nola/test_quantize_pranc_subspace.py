"""Quantizer round trips, PRANC's regenerated-basis gradients, and Fig. 3.7's exact ranks."""
import pytest
import torch
from torch import nn

from workloads.nola.bases import random_bases
from workloads.nola.pranc import PRANCModel, pranc_combine
from workloads.nola.quantize import quantize_ste, quantize_uniform
from workloads.nola.subspace import covariance_rank, nola_samples, pranc_samples


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_quantizer_round_trip(bits):
    x = torch.linspace(-1.3, 2.1, 101, dtype=torch.float64)
    q = quantize_uniform(x, bits)
    step = (2.1 + 1.3) / (2**bits - 1)
    assert torch.unique(q).numel() <= 2**bits
    assert float((q - x).abs().max()) <= step / 2 + 1e-12
    torch.testing.assert_close(quantize_uniform(q, bits), q)   # idempotent: a code maps to itself
    assert float(q.min()) == pytest.approx(-1.3) and float(q.max()) == pytest.approx(2.1)


def test_quantizer_by_hand_two_bits():
    x = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.5])
    # levels 0, 0.5, 1.0, 1.5
    torch.testing.assert_close(quantize_uniform(x, 2), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.5]))


def test_ste_passes_gradient_straight_through():
    x = torch.tensor([0.1, 0.7, 0.33], requires_grad=True)
    y = quantize_ste(x, 2)
    torch.testing.assert_close(y.detach(), quantize_uniform(x.detach(), 2))
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([1.0, 2.0, 3.0]))


def test_pranc_combine_matches_materialised_bases_and_gradient():
    alpha = torch.randn(10, dtype=torch.float64, requires_grad=True)
    theta = pranc_combine(alpha, seed=3, dim=17, chunk=4)
    v = random_bases(3, 10, (17,), chunk=4, dtype=torch.float64)
    torch.testing.assert_close(theta, alpha.detach() @ v)
    g = torch.randn(17, dtype=torch.float64)
    (theta * g).sum().backward()
    torch.testing.assert_close(alpha.grad, v @ g)


def test_pranc_model_trains_only_alpha_and_starts_at_theta0():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(5, 4)
    before = net(x)
    model = PRANCModel(net, num_bases=6, seed=1, chunk=4)
    torch.testing.assert_close(model(x), before)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["alpha"]
    model(x).sum().backward()
    assert model.alpha.grad.shape == (6,) and torch.count_nonzero(model.alpha.grad) > 0


def test_pranc_cached_basis_gives_the_same_weights_and_gradients_as_regeneration():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    cached = PRANCModel(net, num_bases=7, seed=2, chunk=3)
    regen = PRANCModel(net, num_bases=7, seed=2, chunk=3, cache_mb=0)
    assert cached.basis_is_cached() and not regen.basis_is_cached()
    with torch.no_grad():
        cached.alpha.copy_(torch.randn(7, dtype=torch.float64))
        regen.alpha.copy_(cached.alpha)
    torch.testing.assert_close(cached(x), regen(x))
    cached(x).square().sum().backward()
    regen(x).square().sum().backward()
    torch.testing.assert_close(cached.alpha.grad, regen.alpha.grad)


def test_subspace_ranks_fig_3_7():
    d = 4
    # PRANC with n bases spans exactly n dimensions (n < d²) and saturates at d².
    assert covariance_rank(pranc_samples(d, n=6, samples=40, seed=0)) == 6
    assert covariance_rank(pranc_samples(d, n=20, samples=60, seed=0)) == d * d
    # NOLA with k = l = 3 (6 coefficients) spans span{Bⱼ Aᵢ}: k·l = 9 dimensions.
    assert covariance_rank(nola_samples(d, k=3, l=3, rank=1, samples=60, seed=0)) == 9
    # ... and saturates at d² once k·l ≥ d².
    assert covariance_rank(nola_samples(d, k=5, l=5, rank=1, samples=80, seed=0)) == d * d


def test_covariance_rank_by_hand():
    x = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [3.0, 6.0, 0.0]], dtype=torch.float64)
    assert covariance_rank(x) == 1
