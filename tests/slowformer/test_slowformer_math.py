"""Unit tests of SlowFormer's equations on hand-built tensors (issue 10's list)."""
import math

import pytest
import torch

from workloads.common.flops import count_flops, vit_block_flops
from workloads.common.models import build_model
from workloads.slowformer import adavit, ats, halting, patch
from workloads.slowformer.attention import run_block
from workloads.slowformer.compute import ViTShape, block_flops, dense_flops, per_image_flops
from workloads.slowformer.metrics import attack_success
from workloads.slowformer.models import ATSViT, AViT, AdaViT


def _h(*per_token):  # per token: its scores over layers → (L, 1, K)
    return torch.tensor(per_token, dtype=torch.float64).T.unsqueeze(1)


def test_avit_halts_exactly_when_cumulative_score_crosses_threshold():
    # eps=0.25 → threshold 0.75 (dyadic values, so sums are exact). token0 reaches 0.75 at layer 2;
    # token1 stays at 0.6875 < 0.75 → forced halt at the last layer 4; token2 halts at 1; token3 at 3.
    h = _h([0.25, 0.5, 0.0, 0.0], [0.5, 0.125, 0.0625, 0.0], [0.875, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.125])
    n = halting.halting_layers(h, eps=0.25)
    assert n.tolist() == [[2, 4, 1, 3]]
    assert halting.tokens_per_layer(h, eps=0.25).tolist() == [[4, 3, 2, 1]]
    r = halting.remainders(h, eps=0.25)
    assert torch.allclose(r, torch.tensor([[0.75, 0.3125, 1.0, 0.5]], dtype=torch.float64))
    expected_ponder = ((2 + 0.75) + (4 + 0.3125) + (1 + 1.0) + (3 + 0.5)) / 4
    assert halting.ponder_loss(h, eps=0.25).item() == pytest.approx(expected_ponder)
    # just below the threshold does not halt
    assert halting.halting_layers(_h([0.7499, 0.0, 0.0]), eps=0.25).tolist() == [[3]]
    w = halting.act_weights(h, eps=0.25)
    assert torch.allclose(w.sum(0), torch.ones(1, 4, dtype=torch.float64))


def test_avit_gaussian_prior_and_distribution_loss_match_kl_by_hand():
    prior = halting.gaussian_prior(3, target_depth=2.0, std=1.0).double()
    g = [math.exp(-0.5 * (l - 2.0) ** 2) for l in (1, 2, 3)]
    assert torch.allclose(prior, torch.tensor([v / sum(g) for v in g], dtype=torch.float64), atol=1e-7)
    h = torch.tensor([[[0.2, 0.4]], [[0.5, 0.5]], [[0.3, 0.1]]], dtype=torch.float64)  # layer means .3 .5 .2
    q = [0.3, 0.5, 0.2]
    kl = sum(p * (math.log(p) - math.log(qq)) for p, qq in zip(prior.tolist(), q))
    assert halting.distribution_loss(h, prior).item() == pytest.approx(kl, rel=1e-6)


def test_ats_keeps_all_tokens_for_uniform_importance_and_one_for_one_hot():
    uniform = torch.full((1, 8), 1 / 8)
    assert ats.inverse_transform_sample(uniform, 8).sum().item() == 8
    one_hot = torch.zeros(1, 8)
    one_hot[0, 5] = 1.0
    keep = ats.inverse_transform_sample(one_hot, 8)
    assert keep.sum().item() == 1 and keep[0, 5]


def test_ats_importance_is_cls_attention_times_value_norm():
    attn = torch.zeros(1, 1, 3, 3)
    attn[0, 0, 0] = torch.tensor([0.2, 0.5, 0.3])
    v = torch.zeros(1, 1, 3, 2)
    v[0, 0, 1] = torch.tensor([3.0, 4.0])  # ‖V‖ = 5
    v[0, 0, 2] = torch.tensor([0.0, 1.0])  # ‖V‖ = 1
    s = ats.importance_scores(attn, v)
    assert torch.allclose(s, torch.tensor([[2.5 / 2.8, 0.3 / 2.8]]))
    # Eq. 4.5: (0.5 - 1/3)^2 + (0.3 - 1/3)^2
    assert ats.cls_uniform_loss(attn).item() == pytest.approx((0.5 - 1 / 3) ** 2 + (0.3 - 1 / 3) ** 2)


def test_adavit_usage_loss_by_hand():
    p = torch.tensor([[1.0, 0.0, 1.0, 1.0]])  # 0.75 kept
    hd = torch.tensor([[1.0, 0.0]])  # 0.5
    b = torch.tensor([[1.0, 1.0, 1.0]])  # 1.0
    assert adavit.usage_loss(p, hd, b, 0.5, 0.5, 0.5).item() == pytest.approx(0.25 ** 2 + 0.0 + 0.5 ** 2)
    assert adavit.usage_loss(p, hd, b, 0.0, 0.0, 0.0).item() == pytest.approx(0.75 ** 2 + 0.25 + 1.0)


def test_adavit_gumbel_sigmoid_decisions_follow_the_official_thresholds():
    # inference: σ(m) > threshold (0.6 for patches: σ(0.3) = 0.574 is dropped, σ(0.5) = 0.622 kept)
    m = adavit.gumbel_sigmoid_decision(torch.tensor([0.3, 0.5, -2.0]), training=False, threshold=0.6)
    assert m.tolist() == [0.0, 1.0, 0.0]
    assert adavit.gumbel_sigmoid_decision(torch.tensor([0.3]), training=False, threshold=0.5).item() == 1.0
    # training: 1[σ((m + g₁ − g₂)/τ) > t]; g₁ − g₂ is logistic, so P(keep) = σ(m − τ·logit(t))
    g = torch.Generator().manual_seed(0)
    logits = torch.full((200_000,), 1.0, dtype=torch.float64, requires_grad=True)
    for t in (0.5, 0.6):
        d = adavit.gumbel_sigmoid_decision(logits, training=True, tau=5.0, threshold=t, generator=g)
        assert torch.allclose(d.detach(), d.detach().round(), atol=1e-12)
        want = 1 / (1 + math.exp(-(1.0 - 5.0 * math.log(t / (1 - t)))))
        assert d.detach().mean().item() == pytest.approx(want, abs=0.005)
    d.sum().backward()  # straight-through: the gradient of the soft sigmoid reaches m
    assert logits.grad.abs().sum() > 0


def test_patch_stays_in_range_on_256_level_grid_and_pastes_top_left():
    raw = torch.tensor([[[-3.2, 17.4], [300.0, 254.6]]])
    q = patch.project_quantize(raw)
    assert q.tolist() == [[[0.0, 17.0], [255.0, 255.0]]]
    p = patch.init_patch(3, generator=torch.Generator().manual_seed(0))
    assert p.min() >= 0 and p.max() <= 255
    imgs = torch.full((2, 3, 5, 5), 0.5)
    out = patch.paste(imgs, patch.project_quantize(p))
    assert torch.equal(out[:, :, :3, :3], (patch.project_quantize(p) / 255).expand(2, -1, -1, -1))
    assert torch.all(out[:, :, 3:, :] == 0.5) and torch.all(out[:, :, :, 3:] == 0.5)
    moved = patch.paste(imgs, patch.project_quantize(p), torch.tensor([0, 2]), torch.tensor([1, 2]))
    assert torch.equal(moved[1, :, 2:5, 2:5], patch.project_quantize(p) / 255)
    assert torch.equal(moved[0, :, 0:3, 1:4], patch.project_quantize(p) / 255)
    assert moved[0, 0, 4, 0] == 0.5
    assert patch.project_linf(torch.tensor([-40.0, 3.3, 20.0]), 16).tolist() == [-16.0, 3.0, 16.0]
    assert [patch.scaled_patch_size(s, 32) for s in (16, 32, 48, 64)] == [2, 5, 7, 9]


def test_attack_success_formula():
    assert attack_success(1.26, 0.87, 1.26) == pytest.approx(100.0)
    assert attack_success(0.87, 0.87, 1.26) == 0.0
    assert attack_success(0.58, 0.11, 1.26) == pytest.approx(100 * 0.47 / 1.15)
    assert attack_success(0.83, 0.87, 1.26) < 0
    with pytest.raises(ValueError, match="undefined"):
        attack_success(1.0, 1.0, 1.0)


def _tiny_dense():
    torch.manual_seed(0)
    return build_model("small_vit", 5, embed_dim=16, depth=3, num_heads=2).eval()


def test_block_cost_matches_common_helper_and_dense_count_matches_flop_counter():
    shape = ViTShape.of(_tiny_dense().net)
    for n, heads in ((65, 2), (7, 1), (1, 2)):
        got = block_flops(torch.tensor([n]), shape, torch.tensor([heads]))
        assert got.item() == vit_block_flops(n, 16, 4.0, attn_dim=heads * 8)
    dense = _tiny_dense()
    assert dense_flops(shape) == count_flops(dense, torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("kind", ["avit", "ats", "adavit"])
def test_flops_equal_dense_count_when_nothing_is_dropped(kind):
    dense = _tiny_dense()
    x = torch.rand(2, 3, 32, 32)
    if kind == "avit":
        model = AViT(dense, gate_center=1e6)  # h≈0 → nobody halts before the last layer
    elif kind == "ats":
        model = ATSViT(dense, ats_layers=(1,), max_tokens=10_000)
    else:
        model = AdaViT(dense)
    with torch.no_grad():
        logits = model.eval()(x)
    flops = model.flops()
    if kind == "ats":  # uniform-enough importance may drop some; compare to the tokens actually kept
        assert torch.all(model.last.tokens[:, :2] == 65)
    else:
        assert torch.all(model.last.tokens == 65)
        assert torch.allclose(flops, torch.full((2,), dense_flops(model.shape), dtype=torch.float64))
        assert flops[0].item() == count_flops(dense, x[:1])
    if kind == "adavit":
        assert torch.allclose(logits, dense(x), atol=1e-5)


def test_run_block_dense_equals_timm_block():
    dense = _tiny_dense()
    x = torch.randn(2, 65, 16)
    blk = dense.net.blocks[0]
    got, attn, _ = run_block(blk, x)
    assert torch.allclose(got, blk(x), atol=1e-5)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 2, 65))


def test_dropped_tokens_do_not_affect_kept_ones():
    dense = _tiny_dense()
    blk = dense.net.blocks[0]
    x = torch.randn(1, 65, 16)
    mask = torch.zeros(1, 65, dtype=torch.bool)
    mask[0, :10] = True
    y1, _, _ = run_block(blk, x, mask)
    x2 = x.clone()
    x2[0, 10:] += 5.0
    y2, _, _ = run_block(blk, x2, mask)
    assert torch.allclose(y1[0, :10], y2[0, :10], atol=1e-5)
    assert torch.equal(y2[0, 10:], x2[0, 10:])
    # and equals physically removing them
    y3, _, _ = run_block(blk, x[:, :10])
    assert torch.allclose(y1[0, :10], y3[0], atol=1e-5)


def test_per_image_flops_charges_only_executed_blocks():
    shape = ViTShape(dim=16, num_heads=2, mlp_ratio=4.0, num_patches=64, patch_pixels=48, num_classes=5, depth=2)
    tokens = torch.tensor([[65, 10]])
    got = per_image_flops(tokens, shape, torch.tensor([[2, 1]]), torch.tensor([[1.0, 0.0]]))
    want = vit_block_flops(65, 16) + 2 * 64 * 48 * 16 + 2 * 16 * 5
    assert got.item() == want


def test_avit_model_drops_exactly_the_tokens_its_halting_scores_say():
    dense = _tiny_dense()
    with torch.no_grad():  # make dim 0 of the tokens large for some tokens so that they halt early
        dense.net.pos_embed[0, 1:20, 0] += 2.0
    model = AViT(dense, eps=0.01, gate_scale=10.0, gate_center=5.0).eval()
    with torch.no_grad():
        model(torch.rand(2, 3, 32, 32))
    t = model.last
    assert torch.equal(t.tokens, halting.tokens_per_layer(t.halting, 0.01))
    assert t.tokens[:, -1].min() < 65 and torch.all(t.tokens[:, 0] == 65)  # something halted, nothing before layer 1
    assert torch.all(t.token_masks[:, :, 0])  # CLS runs every layer
    expected = per_image_flops(t.tokens, model.shape)
    assert torch.equal(model.flops(), expected) and torch.all(expected < dense_flops(model.shape))


def test_ats_block_charges_attention_output_and_mlp_only_for_sampled_tokens():
    shape = ViTShape(dim=16, num_heads=2, mlp_ratio=4.0, num_patches=64, patch_pixels=48, num_classes=5, depth=1)
    n, m, d, h = 65, 10, 16, 64
    # Q,K,V and QKᵀ for the 65 tokens that entered; A·V, projection and MLP for the 10 sampled ones
    want = 2 * (3 * n * d * d + n * n * d + m * n * d + m * d * d + 2 * m * d * h)
    assert block_flops(torch.tensor([n]), shape, tokens_out=torch.tensor([m])).item() == want
    assert block_flops(torch.tensor([n]), shape, tokens_out=torch.tensor([n])).item() == vit_block_flops(n, d)


def test_ats_samples_inside_the_block_and_unsampled_tokens_skip_its_mlp():
    dense = _tiny_dense()
    model = ATSViT(dense, ats_layers=(1,), max_tokens=10).eval()  # 9 sample points: most tokens are dropped
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        model(x)
        t = model.last
        h = model.embed(x)
        h, _, _ = run_block(dense.net.blocks[0], h)
        full, _, _ = run_block(dense.net.blocks[1], h)  # block 1 on every token
    kept = t.token_masks[2]  # the tokens that left the ATS block = those entering block 2
    assert torch.all(t.tokens[:, 1] == 65) and torch.all(t.tokens_out[:, 1] == kept.sum(-1))
    assert torch.all(t.tokens_out[:, 1] <= 10) and torch.all(kept[:, 0])
    assert torch.equal(t.tokens[:, 2], t.tokens_out[:, 1])
    assert torch.equal(model.flops(), per_image_flops(t.tokens, model.shape, tokens_out=t.tokens_out))
    assert torch.all(model.flops() < per_image_flops(t.tokens, model.shape))  # the ATS block itself saves compute
    # the sampled tokens got block 1 exactly as the dense block computes them (keys = every entering token)
    with torch.no_grad():
        out, _, _ = run_block(dense.net.blocks[1], h, select=lambda a, v: kept)
    assert torch.allclose(out[kept], full[kept], atol=1e-5) and torch.equal(out[~kept], h[~kept])
