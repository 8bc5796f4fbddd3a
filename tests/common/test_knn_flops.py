"""faiss kNN against float64 brute force; FLOP counter against analytic formulas."""
from __future__ import annotations

import torch
import torch.nn as nn

from workloads.common.flops import count_flops, vit_block_flops
from workloads.common.knn import knn_accuracy, knn_search, linear_probe


def test_faiss_matches_float64_bruteforce():
    g = torch.Generator().manual_seed(0)
    bank, q = torch.randn(500, 16, generator=g), torch.randn(20, 16, generator=g)
    for metric in ("cosine", "ip", "l2"):
        s, i = knn_search(bank, q, 5, metric=metric, backend="faiss")
        b64, q64 = bank.double(), q.double()
        if metric == "cosine":
            b64, q64 = b64 / b64.norm(dim=1, keepdim=True), q64 / q64.norm(dim=1, keepdim=True)
        ref = -(torch.cdist(q64, b64) ** 2) if metric == "l2" else q64 @ b64.T
        rs, ri = ref.topk(5, dim=1)
        assert torch.equal(i, ri), metric
        assert torch.allclose(s.double(), rs, atol=1e-4), metric
        ts, ti = knn_search(bank, q, 5, metric=metric, backend="torch")
        assert torch.equal(ti, ri)


def test_knn_perfect_on_separable_clusters():
    g = torch.Generator().manual_seed(1)
    centers = torch.eye(4) * 10
    y_tr, y_te = torch.arange(200) % 4, torch.arange(40) % 4
    x_tr = centers[y_tr] + torch.randn(200, 4, generator=g)
    x_te = centers[y_te] + torch.randn(40, 4, generator=g)
    assert knn_accuracy(x_tr, y_tr, x_te, y_te, k=1, num_classes=4) == 100.0
    assert knn_accuracy(x_tr, y_tr, x_te, y_te, k=20, num_classes=4) == 100.0
    assert linear_probe(x_tr, y_tr, x_te, y_te, epochs=40, batch_size=16) == 100.0


def test_flops_linear_and_conv():
    lin = nn.Linear(7, 5)
    assert count_flops(lin, torch.zeros(3, 7)) == 2 * 3 * 7 * 5
    conv = nn.Conv2d(3, 8, 3, padding=1)
    # each output element: 3*3*3 multiply-adds; 8 channels x 6x6 positions x 2 images
    assert count_flops(conv, torch.zeros(2, 3, 6, 6)) == 2 * (3 * 3 * 3) * 8 * 6 * 6 * 2


def test_flops_vit_block_analytic():
    from timm.models.vision_transformer import Block

    n, d, heads = 17, 32, 4
    block = Block(d, heads, mlp_ratio=4.0, qkv_bias=True)
    measured = count_flops(block, torch.zeros(1, n, d))
    assert measured == vit_block_flops(n, d, 4.0, heads)


def test_dense_vit_flops_equal_analytic_sum():
    from workloads.common.flops import gflops_per_image
    from workloads.common.models import build_model

    d, depth, classes, patch = 64, 2, 10, 4
    model = build_model("small_vit", classes, embed_dim=d, depth=depth, num_heads=2, patch_size=patch)
    tokens = (32 // patch) ** 2 + 1  # patches + CLS
    patch_embed = 2 * (3 * patch * patch) * d * (32 // patch) ** 2
    head = 2 * d * classes
    expected = patch_embed + depth * vit_block_flops(tokens, d, 4.0) + head
    assert count_flops(model, torch.zeros(1, 3, 32, 32)) == expected
    assert gflops_per_image(model, (3, 32, 32)) == expected / 2 / 1e9  # MACs, as the papers' tables


def test_vit_block_flops_by_hand_with_pruned_heads():
    # N=2 tokens, D=4, MLP hidden 8, attention width Da=2: MACs = 3*2*4*2 + 2*2*2*2 + 2*2*4 + 2*2*4*8 = 48+16+16+128
    assert vit_block_flops(2, 4, mlp_ratio=2.0, attn_dim=2) == 2 * 208


def test_weighted_knn_vote_by_hand():
    from workloads.common.knn import knn_classify

    # query [1, 0]; neighbours: class 0 at cos 1.0, class 1 at cos 0.8 (twice): unweighted 3-NN votes 1,
    # weighted with tau=0.1: exp(10) = 22026 > 2 exp(8) = 5962, so class 0
    bank = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6], [-1.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 0])
    q = torch.tensor([[1.0, 0.0]])
    assert knn_classify(bank, labels, q, k=3, num_classes=2, weighted=False).item() == 1
    assert knn_classify(bank, labels, q, k=3, num_classes=2, weighted=True, temperature=0.1).item() == 0
    assert knn_classify(bank, labels, q, k=3, num_classes=2, weighted=True, temperature=10.0).item() == 1
