"""PALM's equations on tiny tensors against independent (hand / float64) computations."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from workloads.palm.adapters import BNAdapt, Palm, Tent, conv_and_norm_params
from workloads.palm.importance import (adam_step, ema_sensitivity, importance, layer_scores, learning_rates,
                                       select_layers, sensitivity)
from workloads.palm.losses import consistency, entropy, kl_to_uniform, thresholded_entropy


def test_kl_gradient_is_class_average_of_cross_entropy_gradients():
    torch.manual_seed(0)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 4, dtype=torch.float64)
    T = 7.0
    g_kl, = torch.autograd.grad(kl_to_uniform(x @ w, T), w)
    ce = [F.cross_entropy((x @ w) / T, torch.full((5,), c)) for c in range(3)]
    g_ce = sum(torch.autograd.grad(l, w)[0] for l in ce) / 3  # Eq. 2
    assert torch.allclose(g_kl, g_ce, atol=1e-12)
    # value: -(1/C) Σ log p_c - log C, by hand for one sample
    z = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    p = torch.exp(z / 2) / torch.exp(z / 2).sum()
    assert kl_to_uniform(z, 2.0).item() == pytest.approx((-(torch.log(p)).mean() - math.log(3)).item())


def test_layer_scores_and_selection():
    grads = {"a": torch.tensor([0.5, -0.25]), "b": torch.tensor([[1.0, -1.0], [0.5, 0.0]])}
    scores = layer_scores(grads)
    assert scores == {"a": 0.75, "b": 2.5}
    assert select_layers(scores, 1.0) == {"a": True, "b": False}
    assert select_layers(scores, 2.5) == {"a": True, "b": True}  # Z ≤ η is selected


def test_sensitivity_ema_importance_by_hand():
    theta = torch.tensor([1.0, -2.0])
    s1 = sensitivity(theta, torch.tensor([0.5, 0.25]))
    assert s1.tolist() == [0.5, 0.5]
    sh1 = ema_sensitivity(s1, None, 0.5)
    assert sh1.tolist() == [0.25, 0.25]
    assert importance(s1, sh1, eps=0.0).tolist() == [1.0, 1.0]
    s2 = torch.tensor([1.0, 0.0])
    sh2 = ema_sensitivity(s2, sh1, 0.5)
    assert sh2.tolist() == [0.625, 0.125]
    i2 = importance(s2, sh2, eps=0.0)
    assert torch.allclose(i2, torch.tensor([0.375 / 0.625, 1.0]))
    assert torch.allclose(learning_rates(i2, 5e-4), torch.tensor([5e-4 * 0.6, 5e-4]))
    # ε guards the division when nothing is sensitive
    assert importance(torch.zeros(1), torch.zeros(1), eps=1e-8).item() == pytest.approx(1.0)


def test_adam_step_matches_torch_adam_and_respects_zero_lr():
    torch.manual_seed(0)
    p1 = torch.randn(6, dtype=torch.float64)
    p2 = p1.clone().requires_grad_(True)
    opt = torch.optim.Adam([p2], lr=1e-2)
    state = {}
    for _ in range(3):
        g = torch.randn(6, dtype=torch.float64)
        adam_step(p1, g, state, 1e-2)
        p2.grad = g.clone()
        opt.step()
    assert torch.allclose(p1, p2.detach(), atol=1e-12)
    p = torch.ones(3)
    adam_step(p, torch.ones(3), {}, torch.tensor([0.0, 0.1, 0.2]))
    assert p[0] == 1.0 and p[1] == pytest.approx(0.9, abs=1e-6) and p[2] == pytest.approx(0.8, abs=1e-6)


def test_thresholded_entropy_and_consistency_values():
    confident = torch.tensor([[10.0, 0.0, 0.0]], dtype=torch.float64)
    uniformish = torch.tensor([[0.0, 0.0, 0.1]], dtype=torch.float64)
    logits = torch.cat([confident, uniformish])
    h = entropy(logits)
    p = torch.softmax(confident, 1)
    assert h[0].item() == pytest.approx(-(p * p.log()).sum().item())
    assert h[1] > 0.4 * math.log(3) >= h[0]
    # only the confident sample counts; the mean is over the whole batch (2 samples)
    assert thresholded_entropy(logits).item() == pytest.approx(h[0].item() / 2)
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    pa = torch.softmax(a, 1)
    expected = -(pa * torch.log_softmax(b, 1)).sum().item()
    assert consistency(a, b).item() == pytest.approx(expected)


def _tiny_bn_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3))


def test_tent_updates_only_bn_affine():
    model = _tiny_bn_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    Tent(model, lr=1e-2).step(torch.rand(8, 3, 8, 8))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"1.weight", "1.bias"}


def test_bn_adapt_uses_test_batch_statistics():
    model = _tiny_bn_model()
    with torch.no_grad():
        model[1].running_mean.fill_(5.0)
        model[1].running_var.fill_(9.0)
    x = torch.rand(8, 3, 8, 8)
    out = BNAdapt(model).step(x)
    conv = model[0](x)
    mean, var = conv.mean((0, 2, 3), keepdim=True), conv.var((0, 2, 3), unbiased=False, keepdim=True)
    normed = (conv - mean) / torch.sqrt(var + model[1].eps) * model[1].weight.view(1, -1, 1, 1) + model[1].bias.view(1, -1, 1, 1)
    expected = model[5](model[4](model[3](torch.relu(normed))))
    assert torch.allclose(out, expected, atol=1e-5)


def test_palm_paper_reading_uses_eq8_learning_rates_and_freezes_unselected_layers():
    model = _tiny_bn_model().double()
    palm = Palm(model, kappa=1e-3, alpha=0.5, temperature=10.0, eta=0.05, lam=0.0, image_size=8, reading="paper")
    params = conv_and_norm_params(model)
    x = torch.rand(6, 3, 8, 8, dtype=torch.float64)
    before = {n: p.detach().clone() for n, p in params.items()}
    # independent computation of the selection and of Eq. 4-8 on the same batch (batch statistics, no aug needed: λ=0)
    logits = model(x)
    g_kl = dict(zip(params, torch.autograd.grad(kl_to_uniform(logits, 10.0), list(params.values()), retain_graph=True)))
    g_obj = dict(zip(params, torch.autograd.grad(thresholded_entropy(logits), list(params.values()), allow_unused=True)))
    palm.step(x)
    for n, p in params.items():
        z = g_kl[n].abs().sum().item()
        delta = p.detach() - before[n]
        if z > 0.05:
            assert torch.equal(delta, torch.zeros_like(delta)), f"{n} should be frozen (Z={z:.3g})"
            continue
        s = (before[n] * g_kl[n]).abs()
        s_hat = 0.5 * s
        imp = ((s - s_hat).abs() + 1e-8) / (s_hat + 1e-8)
        g = g_obj[n] if g_obj[n] is not None else torch.zeros_like(p)
        # first Adam step: Δθ = -lr · g / (|g| + eps)
        expected = -1e-3 * imp * g / (g.abs() + 1e-8)
        assert torch.allclose(delta, expected, atol=1e-10), n
    assert 0 <= palm.adapted_fraction <= 1
