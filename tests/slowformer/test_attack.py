"""The attack loop and objectives: projection/quantisation during optimisation, ℓ∞ bound, accuracy control,
TAP/NTAP, the AdaViT decision learning rate, and why ATS resists the attack on digits (a data effect)."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from workloads.common.models import build_model
from workloads.slowformer import ats, losses
from workloads.slowformer.attack import Adversary, optimise
from workloads.slowformer.finetune import finetune
from workloads.slowformer.halting import gaussian_prior
from workloads.slowformer.models import AdaViT, AViT


def _tiny_avit():
    torch.manual_seed(0)
    return AViT(build_model("small_vit", 5, embed_dim=16, depth=3, num_heads=2), gate_center=3.0)


def _data(n=16):
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 5, (n,), generator=g))


def test_optimised_patch_stays_on_the_256_level_grid_and_moves():
    model = _tiny_avit()
    prior = gaussian_prior(3, 2.5)
    init = torch.full((3, 5, 5), 128.0)
    adv = optimise(model, Adversary(init.clone()), _data(),
                   lambda logits, y: losses.avit_compute_loss(model.last, prior, 0.1, 5e-3, 0.01),
                   steps=3, lr=0.2, batch_size=8, device=torch.device("cpu"))
    v = adv.values
    assert v.min() >= 0 and v.max() <= 255 and torch.equal(v, v.round())
    assert not torch.equal(v, init)  # lr 0.2 on values/255 moves pixels by whole levels
    assert all(not p.requires_grad for p in model.parameters())  # the model stays frozen


def test_linf_perturbation_stays_within_epsilon():
    model = _tiny_avit()
    prior = gaussian_prior(3, 2.5)
    adv = optimise(model, Adversary(torch.zeros(3, 32, 32), kind="perturbation"), _data(),
                   lambda logits, y: losses.avit_compute_loss(model.last, prior, 0.1, 5e-3, 0.01),
                   steps=2, lr=0.5, batch_size=8, device=torch.device("cpu"), epsilon=16)
    assert adv.values.abs().max() <= 16 and torch.equal(adv.values, adv.values.round())
    assert adv.values.abs().max() > 0


def test_accuracy_control_and_accuracy_patch_losses_by_hand():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    y = torch.tensor([0, 2])
    ce = F.cross_entropy(logits, y)
    assert losses.task_term(logits, y, "agnostic").item() == 0.0
    assert losses.task_term(logits, y, "preserve").item() == pytest.approx(ce.item())
    assert losses.task_term(logits, y, "destroy").item() == pytest.approx(-ce.item())
    assert losses.accuracy_patch_loss(logits, y, "ntap", 0).item() == pytest.approx(-ce.item())
    tap = F.cross_entropy(logits, torch.tensor([1, 1]))
    assert losses.accuracy_patch_loss(logits, y, "tap", 1).item() == pytest.approx(tap.item())


def test_adavit_attack_loss_is_negative_usage_with_zero_budgets():
    p, h, b = torch.full((2, 3, 4), 0.5), torch.full((2, 3, 2), 1.0), torch.full((2, 3), 0.25)

    class T:
        keep_probs = (p, h, b)
    assert losses.adavit_compute_loss(T).item() == pytest.approx(-(0.25 + 1.0 + 0.0625))


def test_decision_networks_learn_faster_than_the_backbone():
    # zero-init decisions start at bias 2 ("keep"): with the backbone's lr a short schedule barely moves them
    moved = {}
    for scale in (1.0, 20.0):
        torch.manual_seed(0)
        model = AdaViT(build_model("small_vit", 5, embed_dim=16, depth=2, num_heads=2))
        finetune(model, _data(32), epochs=1, lr=1e-3, batch_size=8, device=torch.device("cpu"), seed=0, alpha_p=0,
                 alpha_d=0, prior=None, gammas=(0.0, 0.0, 0.0), decision_lr_scale=scale)
        moved[scale] = (2.0 - model.block_dec[0].bias.detach()).abs().max().item()
    assert moved[20.0] > 5 * moved[1.0] > 0


def test_uniform_cls_attention_keeps_fewer_tokens_when_value_norms_vary():
    # the ATS attack (Eq. 4.5) makes A_{1,j} uniform, but ATS samples by A_{1,j}·‖V_j‖ (Eq. 4.4): with
    # ‖V_j‖ spread as on digits' black backgrounds vs strokes, uniform attention still drops tokens
    attn = torch.zeros(1, 1, 9, 9)
    attn[0, 0, 0, 1:] = 1 / 8
    equal_v = torch.ones(1, 1, 9, 4)
    spread_v = equal_v.clone()
    spread_v[0, 0, 1:5] *= 0.3
    keep_equal = ats.inverse_transform_sample(ats.importance_scores(attn, equal_v), 8)
    keep_spread = ats.inverse_transform_sample(ats.importance_scores(attn, spread_v), 8)
    assert keep_equal.sum() == 8 and keep_spread.sum() < 8


def test_default_ats_layers_match_the_papers_blocks_3_to_9():
    from workloads.slowformer.config import SlowFormerConfig
    from workloads.slowformer.budgets import ATS_WEIGHTS
    from workloads.slowformer.workload import ats_layer_indices

    assert ats_layer_indices(SlowFormerConfig(), 12) == (2, 3, 4, 5, 6, 7, 8)  # 1-based blocks 3..9
    assert all(len(ats_layer_indices(SlowFormerConfig(), 12)) == len(w) for w in ATS_WEIGHTS.values())
    assert ats_layer_indices(SlowFormerConfig(), 4) == (0, 1, 2)
    assert ats_layer_indices(SlowFormerConfig(ats_layers=[1, 2]), 4) == (1, 2)


def test_random_location_pastes_the_whole_patch_at_a_different_place_per_image():
    patch = torch.full((3, 4, 4), 255.0)
    imgs = torch.zeros(16, 3, 32, 32)
    out = Adversary(patch, location="random").apply(imgs, generator=torch.Generator().manual_seed(0))
    assert torch.all(out.sum(dim=(1, 2, 3)) == 3 * 16)  # every image carries exactly the 4x4 patch
    corners = {tuple(torch.nonzero(o[0])[0].tolist()) for o in out}
    assert len(corners) > 8  # locations differ between images
    fixed = Adversary(patch).apply(imgs)
    assert torch.all(fixed[:, :, :4, :4] == 1.0) and fixed[:, :, 4:].sum() == 0
