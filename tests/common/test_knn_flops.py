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
