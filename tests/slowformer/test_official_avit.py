"""A-ViT, the patch and the GFLOPs conventions against independent float64 re-computations of the authors' code
(issue 14 items 1-4, 7, 8 and the checkpoint layouts)."""
import math

import pytest
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

from tests.slowformer import official_reference as ref
from workloads.common.models import CheckpointError, build_model
from workloads.slowformer import halting, losses, patch
from workloads.slowformer.attack import Adversary, dense_paper_gflops, measure, optimise, paper_gflops
from workloads.slowformer.checkpoints import load_vit_release, missing_checkpoint_error
from workloads.slowformer.compute import ViTShape, avit_paper_counts, paper_convention_gflops
from workloads.slowformer.models import AViT, ATSViT

DIM, DEPTH, HEADS, PATCH, IMAGE, CLASSES = 16, 4, 2, 8, 32, 5
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GATE = dict(gate_scale=10.0, gate_center=2.0)


def _avit_from_release(tmp_path, seed=0):
    """A tiny A-ViT whose weights come from a file in the release layout ({'model': state_dict}, official names)."""
    sd = ref.random_vit_state(DIM, DEPTH, HEADS, PATCH, IMAGE, CLASSES, seed)
    with torch.no_grad():  # spread the halting feature so that tokens (the CLS included) halt at different layers
        sd["pos_embed"][0, :, 0] = torch.linspace(-0.3, 0.6, sd["pos_embed"].shape[1], dtype=torch.float64)
    path = tmp_path / "avit_release.pth"
    torch.save({"model": {k: v.float() for k, v in sd.items()}, "epoch": 99}, path)
    dense = build_model("small_vit", CLASSES, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, patch_size=PATCH,
                        mean=MEAN, std=STD)
    model = AViT(dense, eps=0.01, **GATE)
    load_vit_release(model.vit, path)
    model.double().eval()
    sd = {k: v.float().double() for k, v in sd.items()}  # the same (float32-rounded) values in the reference
    return model, sd


def test_release_key_names_are_the_official_ones():
    sd = ref.random_vit_state(DIM, 1, HEADS, PATCH, IMAGE, CLASSES, 0)
    assert set(sd) == set(ref.VIT_TOP_KEYS) | {f"blocks.0.{k}" for k in ref.VIT_BLOCK_KEYS}


def test_official_avit_checkpoint_gives_official_logits_counts_and_ponder(tmp_path):
    model, sd = _avit_from_release(tmp_path)
    x = torch.rand(3, 3, IMAGE, IMAGE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(x)
    want_logits, counter, rho, hsl = ref.avit_forward(sd, x, depth=DEPTH, heads=HEADS, patch=PATCH, mean=MEAN, std=STD, **GATE)
    t = model.last
    assert len(set(counter.flatten().tolist())) >= 3  # the test exercises several halting depths
    assert counter[:, 0].min() < DEPTH  # and the CLS token halts early in some image, like every token
    assert torch.allclose(logits, want_logits, rtol=0, atol=1e-10)
    # tokens per layer: a token runs layers 0..counter−1 (engine_act.py:241-247)
    layers = torch.arange(DEPTH).view(1, 1, -1)
    assert torch.equal(t.tokens, (counter.unsqueeze(-1) > layers).sum(1).long())
    assert torch.allclose(t.rho, rho, rtol=0, atol=1e-12)
    assert torch.allclose(halting.official_halting_profile(t.halting_raw), hsl, rtol=0, atol=1e-12)
    # the pure functions of Eq. 4.1 on the trace's scores agree with the official loop
    assert torch.equal(halting.halting_layers(t.halting, 0.01).double(), counter)
    assert halting.ponder_loss(t.halting, 0.01).item() == pytest.approx(rho.mean().item(), abs=1e-12)


def test_official_prior_is_get_distribution_target():
    got = halting.official_prior(12).double()
    want = ref.distribution_target(12, 8)
    assert torch.allclose(got, want, rtol=1e-6)
    assert got[:8].sum().item() == pytest.approx(0.98, rel=1e-6) and got.sum().item() > 1.0  # scaled, not normalised
    assert torch.allclose(halting.official_prior(6).double(), ref.distribution_target(6, 4), rtol=1e-6)  # round(2L/3)


def test_official_kl_is_kldivloss_batchmean_over_layers():
    profile = torch.tensor([0.02, 0.3, 0.2, 0.9, 0.05], dtype=torch.float64)
    prior = halting.official_prior(5, 3).double()
    q = (profile / profile.sum()).clamp(0.01, 0.99)
    want = nn.KLDivLoss(reduction="batchmean")(q.log(), prior)
    assert halting.official_distribution_loss(profile, prior).item() == pytest.approx(want.item(), rel=1e-12)
    by_hand = sum(p * (math.log(p) - math.log(qq)) for p, qq in zip(prior.tolist(), q.tolist())) / 5
    assert want.item() == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("reading", ["official", "paper"])
def test_avit_attack_loss_and_its_gradient_follow_each_reading(tmp_path, reading):
    model, sd = _avit_from_release(tmp_path)
    prior = halting.official_prior(DEPTH).double()
    x = torch.rand(4, 3, IMAGE, IMAGE, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    alpha_p, alpha_d = 5e-4, 1e-3
    model(x)
    got = losses.avit_compute_loss(model.last, prior, alpha_d, alpha_p, 0.01, reading, "official")
    (g_got,) = torch.autograd.grad(got, x)
    x2 = x.detach().clone().requires_grad_(True)
    _, _, rho, hsl = ref.avit_forward(sd, x2, depth=DEPTH, heads=HEADS, patch=PATCH, mean=MEAN, std=STD, **GATE)
    if reading == "official":
        want = ref.avit_attack_loss(rho, hsl, prior, alpha_p, alpha_d)
    else:  # the text: −(α_d L_distr + α_p L_ponder), the KL maximised
        q = (hsl / hsl.sum()).clamp(0.01, 0.99)
        want = -(alpha_d * nn.KLDivLoss(reduction="batchmean")(q.log(), prior) + alpha_p * rho.mean())
    (g_want,) = torch.autograd.grad(want, x2)
    assert got.item() == pytest.approx(want.item(), rel=1e-10, abs=1e-14)
    assert torch.allclose(g_got, g_want, rtol=1e-9, atol=1e-15)


def test_kl_term_enters_the_official_loss_only_when_positive():
    t = torch.tensor(-0.5, requires_grad=True)
    assert halting.positive_part_gate(t).item() == 0.0
    assert halting.positive_part_gate(torch.tensor(0.25)).item() == 0.25


def test_patch_init_and_projection_follow_patch_act():
    g = torch.Generator().manual_seed(0)
    p = patch.init_patch_normalized(5, 3, generator=g)
    assert p.min() >= -0.5 and p.max() < 0.5
    mean, std = torch.tensor(MEAN), torch.tensor(STD)
    levels = patch.normalized_to_levels(p, mean, std)
    # Patch.project: clamp to the images of 0 and 1, ((w − min)/(max − min)·255).floor()
    lo, hi = ((0 - mean) / std).view(-1, 1, 1), ((1 - mean) / std).view(-1, 1, 1)
    want = ((torch.max(torch.min(p, hi), lo) - lo) / (hi - lo) * 255).floor()
    assert torch.equal(levels, want)
    far = torch.full((3, 1, 1), 10.0)
    assert patch.normalized_to_levels(far, mean, std).flatten().tolist() == [255.0] * 3
    assert torch.equal(patch.normalized_to_levels(patch.levels_to_normalized(levels, mean, std), mean, std), levels)


class _Linear(nn.Module):
    """A frozen 'model' that normalises inside, whose loss depends on the pasted pixels (a patch-step oracle)."""

    def __init__(self):
        super().__init__()
        from workloads.common.models import Normalize
        self.normalize = Normalize(MEAN, STD)
        self.w = nn.Parameter(torch.randn(3 * 8 * 8, 1, generator=torch.Generator().manual_seed(3)))

    def forward(self, x):
        return self.normalize(x).flatten(1) @ self.w


@pytest.mark.parametrize("steps", [1, 3])
def test_patch_steps_are_official_adamw_in_normalised_space(steps):
    torch.manual_seed(0)
    data = TensorDataset(torch.rand(8, 3, 8, 8), torch.zeros(8, dtype=torch.long))
    model = _Linear()
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    init = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(4)) - 0.5
    levels0 = patch.normalized_to_levels(init, torch.tensor(MEAN), torch.tensor(STD))
    adv = Adversary(levels0.clone(), seed=0)
    loss_fn = lambda logits, y: logits.pow(2).mean()
    optimise(model, adv, data, loss_fn, steps=steps, lr=0.2, batch_size=8, device=torch.device("cpu"), space="normalized")
    # the official loop: a Parameter in normalised units, projected (clamp + floor) in forward, AdamW wd 0
    lo, hi = (0 - mean) / std, (1 - mean) / std
    proj = lambda w: (((torch.max(torch.min(w, hi), lo) - lo) / (hi - lo) * 255 + 1e-3).floor() / 255) * (hi - lo) + lo
    param = nn.Parameter(proj(levels0 / 255 * (hi - lo) + lo))
    opt = torch.optim.AdamW([param], lr=0.2, weight_decay=0.0)
    for _ in range(steps):
        param.data = proj(param.data)
        x = data.tensors[0].clone()
        xn = (x - mean) / std
        xn[:, :, :4, :4] = param  # the official pastes the patch into the normalised image
        loss = (xn.flatten(1) @ model.w).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    want = (((proj(param.data) - lo) / (hi - lo)) * 255 + 1e-3).floor()
    assert torch.equal(adv.values, want)
    assert (adv.values - levels0).abs().max() > 0
    # one step moves a pixel by about lr·σ·255 ≈ 11-12 levels, not lr·255 ≈ 51
    if steps == 1:
        assert (adv.values - levels0).abs().max() <= 0.2 * 0.229 * 255 + 1


def _flop_counted_dummy(kept, shape):
    """The paper's dummy model counted by torch's FlopCounterMode on physically gathered tokens, plus fvcore's
    5 FLOPs per LayerNorm element (an independent count of paper_convention_gflops)."""
    from torch.utils.flop_counter import FlopCounterMode
    d, hid = shape.dim, int(shape.dim * shape.mlp_ratio)
    lin = lambda i, o: nn.Linear(i, o)
    qkv, proj, fc1, fc2 = lin(d, 3 * d), lin(d, d), lin(d, hid), lin(hid, d)
    embed, head = nn.Conv2d(shape.patch_pixels // 64, d, 8, 8), lin(d, shape.num_classes)
    ln = 0
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        x = embed(torch.zeros(1, shape.patch_pixels // 64, 8 * int(shape.num_patches ** 0.5), 8 * int(shape.num_patches ** 0.5)))
        x = torch.cat([torch.zeros(1, 1, d), x.flatten(2).transpose(1, 2)], 1)
        for n in kept:
            e = x.shape[1]
            ln += 5 * e * d
            q, k, v = qkv(x).chunk(3, -1)
            a = (q @ k.transpose(-2, -1)).softmax(-1)[:, :n]  # gather the kept rows
            x = x[:, :n] + proj(a @ v)
            ln += 5 * n * d
            x = x + fc2(fc1(x))
        ln += 5 * x.shape[1] * d
        head(x[:, 0])
    return (fc.get_total_flops() / 2 + ln) / 1e9


def test_paper_convention_gflops_matches_engine_act_and_an_independent_count():
    import timm
    assert paper_convention_gflops([197] * 12, ViTShape.of(timm.create_model("deit_tiny_patch16_224"))) == pytest.approx(1.2584112)
    assert paper_convention_gflops([197] * 12, ViTShape.of(timm.create_model("deit_small_patch16_224"))) == pytest.approx(4.608338304)
    shape = ViTShape(dim=16, num_heads=2, mlp_ratio=4.0, num_patches=16, patch_pixels=192, num_classes=5, depth=4)
    kept = [17, 12, 12, 5]
    assert paper_convention_gflops(kept, shape) == pytest.approx(_flop_counted_dummy(kept, shape), rel=1e-12)
    assert avit_paper_counts([17.0, 12.5, 11.5, 4.49]) == [17, 12, 12, 4]  # Python round: half to even


def test_measure_reports_both_conventions_and_paper_uses_rounded_means(tmp_path):
    model, _ = _avit_from_release(tmp_path)
    model.float()
    data = TensorDataset(torch.rand(6, 3, IMAGE, IMAGE), torch.zeros(6, dtype=torch.long))
    stats = measure(model, data, device=torch.device("cpu"), batch_size=4)
    counts = [round(t) for t in stats["tokens"].tolist()]
    assert paper_gflops(model, stats) == pytest.approx(paper_convention_gflops(counts, model.shape))
    assert paper_gflops(model, stats) < dense_paper_gflops(model)
    assert 0 < stats["gflops"] < dense_paper_gflops(model)  # exact GMACs: no LayerNorm, no entering-token charge


def test_paper_scale_without_checkpoints_names_what_to_download():
    err = missing_checkpoint_error("checkpoint", "deit_tiny_patch16_224", "avit")
    assert "deit_tiny_patch16_224-a1311bcf.pth" in str(err) and isinstance(err, CheckpointError)
    assert "NVlabs/A-ViT" in str(missing_checkpoint_error("efficient_checkpoint", "deit_tiny_patch16_224", "avit"))


def test_ats_and_deit_releases_load_into_the_dense_vit(tmp_path):
    sd = ref.random_vit_state(DIM, DEPTH, HEADS, PATCH, IMAGE, CLASSES, 5)
    path = tmp_path / "deit.pth"
    torch.save({"model": {f"module.{k}": v.float() for k, v in sd.items()}}, path)
    dense = build_model("small_vit", CLASSES, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, patch_size=PATCH)
    ats = ATSViT(dense, (1, 2))
    load_vit_release(ats.vit, path)
    assert torch.equal(ats.vit.blocks[3].mlp.fc2.weight, sd["blocks.3.mlp.fc2.weight"].float())
    bad = tmp_path / "bad.pth"
    torch.save({"model": {k: v for k, v in sd.items() if "blocks.3" not in k}}, bad)
    with pytest.raises(CheckpointError, match="missing"):
        load_vit_release(ats.vit, bad)
