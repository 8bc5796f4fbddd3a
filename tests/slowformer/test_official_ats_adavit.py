"""ATS sampling and AdaViT against independent float64 re-computations of the authors' code (issue 14 items 5, 6, 8)."""
import pytest
import torch

from tests.slowformer import official_reference as ref
from workloads.common.models import CheckpointError, build_model
from workloads.slowformer import ats
from workloads.slowformer.attack import dense_paper_gflops, paper_gflops
from workloads.slowformer.checkpoints import adavit_release_to_ours, load_adavit_release
from workloads.slowformer.compute import (ViTShape, adavit_block_flops, adavit_paper_block_gmacs, adavit_paper_gflops,
                                          ats_paper_counts,
                                          paper_convention_gflops)
from workloads.slowformer.models import ATSViT, AdaViT

DIM, DEPTH, HEADS, PATCH, IMAGE, CLASSES = 16, 4, 2, 8, 32, 5
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _kept_sets(mask):
    return [set(torch.nonzero(row).flatten().tolist()) for row in mask]


@pytest.mark.parametrize("n", [17, 9, 4])
def test_official_inverse_transform_sampling_matches_the_loop_reference(n):
    g = torch.Generator().manual_seed(n)
    scores = torch.rand(6, 16, generator=g, dtype=torch.float64) ** 3
    scores[1, 3:9] = 0.0  # tokens dropped by an earlier ATS block have score 0
    scores[2] = 0.0
    scores[2, 5] = 1.0  # one-hot: a single token has all the mass
    scores = scores / scores.sum(-1, keepdim=True)
    got = _kept_sets(ats.official_inverse_transform_sample(scores, n))
    assert got == ref.ats_sample(scores, n)
    assert all(len(s) <= n - 1 for s in got) and got[2] == {5}


def test_official_sampling_by_hand_and_differs_from_the_midpoint_reading():
    # scores 0.1, 0.2, 0.3, 0.4 sorted already: CDF .1 .3 .6 1 → min-max .0 .222 .556 1; n = 5 → 4 points from
    # .222 to 1: .222 .481 .741 1 → nearest .222 (tok 1), .556 (tok 2), .556 (tok 2), 1 (tok 3): keep {1, 2, 3}
    s = torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    assert _kept_sets(ats.official_inverse_transform_sample(s, 5)) == [{1, 2, 3}]
    # 0.05 0.05 0.2 0.7: normalised CDF 0 .053 .263 1, points .053 .368 .684 1 → tokens 1, 2, 3, 3 → {1, 2, 3};
    # the midpoint reading's points .125 .375 .625 .875 fall in the intervals of tokens 2, 3, 3, 3 → {2, 3}
    s = torch.tensor([[0.05, 0.05, 0.2, 0.7]], dtype=torch.float64)
    assert _kept_sets(ats.official_inverse_transform_sample(s, 5)) == [{1, 2, 3}]
    assert _kept_sets(ats.inverse_transform_sample(s, 4)) == [{2, 3}]
    # the sample points: smallest non-zero normalised CDF value to 1, evenly
    ys = ats.official_sample_points(torch.tensor([[0.0, 0.25, 0.5, 1.0]], dtype=torch.float64), 5)
    assert torch.allclose(ys, torch.tensor([[0.25, 0.5, 0.75, 1.0]], dtype=torch.float64))


def test_ats_model_uses_the_official_sampler_and_the_truncated_paper_counts():
    dense = build_model("small_vit", CLASSES, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, patch_size=PATCH)
    model = ATSViT(dense, (1, 2), max_tokens=12).eval()
    x = torch.rand(3, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model(x)
    t = model.last
    assert torch.all(t.tokens_out[:, 1] <= 12) and torch.all(t.tokens[:, 2] == t.tokens_out[:, 1])
    # AdaptiveTokenSampling/engine.py:250: int() of the mean policy size at each ATS block, carried elsewhere
    assert ats_paper_counts([17.0, 11.9, 10.2, 10.2], (1, 2), 17) == [17, 11, 10, 10]
    stats = {"tokens_out": t.tokens_out.double().mean(0)}
    want = paper_convention_gflops(ats_paper_counts(stats["tokens_out"].tolist(), (1, 2), 17), model.shape)
    assert paper_gflops(model, stats) == pytest.approx(want)


def _adavit_from_release(tmp_path, gates="attn_mlp"):
    sd = ref.random_vit_state(DIM, DEPTH, HEADS, PATCH, IMAGE, CLASSES, 7, adavit=True,
                              gate_outputs=2 if gates == "attn_mlp" else 1)
    path = tmp_path / "adavit_release.pth"
    torch.save({"state_dict": {k: v.float() for k, v in sd.items()}}, path)
    dense = build_model("small_vit", CLASSES, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, patch_size=PATCH,
                        mean=MEAN, std=STD)
    model = AdaViT(dense, gates=gates)
    load_adavit_release(model, path)
    return model.double().eval(), {k: v.float().double() for k, v in sd.items()}


@pytest.mark.parametrize("gates", ["attn_mlp", "block"])
def test_official_adavit_checkpoint_gives_official_logits_and_decisions(tmp_path, gates):
    model, sd = _adavit_from_release(tmp_path, gates)
    x = torch.rand(4, 3, IMAGE, IMAGE, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = model(x)
    want, counts = ref.adavit_forward(sd, x, depth=DEPTH, heads=HEADS, patch=PATCH, mean=MEAN, std=STD)
    t = model.last
    tokens = torch.stack([c[0] for c in counts], 1)
    heads = torch.stack([c[1] for c in counts], 1)
    layer = torch.stack([c[2] for c in counts], 1)
    # the test exercises dropped patches, dropped heads and closed gates, decided afresh in every block
    assert tokens[:, 1:].min() < 17 and heads.min() < HEADS and layer.min() == 0
    assert torch.allclose(logits, want, rtol=0, atol=1e-10)
    assert torch.equal(t.tokens.double(), tokens) and torch.equal(t.heads.double(), heads)
    assert torch.equal(t.gates.double(), layer)
    assert torch.all(t.heads[:, 0] == HEADS) and torch.all(t.gates[:, 0])  # no head/layer decisions in block 0


def test_adavit_patch_decisions_are_not_cumulative(tmp_path):
    model, _ = _adavit_from_release(tmp_path)
    x = torch.rand(8, 3, IMAGE, IMAGE, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        model(x)
    masks = model.last.token_masks  # (L, B, N): kept tokens of blocks whose gates are open
    revived = (~masks[:-1] & masks[1:]).any()
    assert revived  # a token dropped in one block is kept again in a later one


def test_adavit_release_with_t2t_stem_is_refused_and_names_the_supported_layout():
    with pytest.raises(CheckpointError, match="ada_step_deit"):
        adavit_release_to_ours({"tokens_to_token.project.weight": torch.zeros(1)}, 1)


def test_adavit_flops_exact_and_table_convention():
    shape = ViTShape(dim=16, num_heads=2, mlp_ratio=4.0, num_patches=16, patch_pixels=192, num_classes=5, depth=1)
    n, h, d, hid, hd = 9, 1, 16, 64, 8
    got = adavit_block_flops(torch.tensor([[n]]), torch.tensor([[h]]), torch.tensor([[[1, 1]]]), shape).item()
    da = h * hd
    assert got == 2 * (3 * n * d * da + 2 * n * n * da + n * da * d + n * da * hid + n * hid * d)
    assert adavit_block_flops(torch.tensor([[n]]), torch.tensor([[h]]), torch.tensor([[[0, 0]]]), shape).item() == 0
    # block_flops_dict.py / forward_count_flops: selectors, LN on all N = 17, proj da×da, token selector on N−1
    N = 17
    want = d * (2 + 2) + 5 * N * d + (N - 1) * d + 3 * n * d * da + 2 * n * n * da + n * da * da + 5 * N * d + n * da * hid + n * hid * d
    assert adavit_paper_block_gmacs(h, n, 1, 1, shape) * 1e9 == pytest.approx(want)
    assert adavit_paper_block_gmacs(0, n, 1, 1, shape) * 1e9 == pytest.approx(d * 4)  # no head: only the selectors


def test_adavit_dense_reference_of_the_table_convention_bounds_the_clean_model(tmp_path):
    model, _ = _adavit_from_release(tmp_path)
    x = torch.rand(4, 3, IMAGE, IMAGE, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        model(x)
    s = model.shape
    full = adavit_paper_gflops(torch.full((1, DEPTH), s.num_patches + 1), torch.full((1, DEPTH), HEADS),
                               torch.ones(1, DEPTH, 2, dtype=torch.long), s)
    assert dense_paper_gflops(model) == pytest.approx(float(full[0]))
    assert torch.all(model.paper_gflops() < dense_paper_gflops(model))
