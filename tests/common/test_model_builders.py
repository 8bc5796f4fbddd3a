"""Every builder: output shape, and pooled features that the final linear layer maps to the logits."""
from __future__ import annotations

import pytest
import torch

from workloads.common.models import build_model
from workloads.common.training import extract_features


def _head(net: torch.nn.Module) -> torch.nn.Module:
    for name in ("fc", "classifier", "head"):
        if hasattr(net, name):
            return getattr(net, name)
    raise AssertionError(type(net))


@pytest.mark.parametrize("name,size", [("small_cnn", 32), ("small_resnet", 32), ("resnet20", 32), ("small_vit", 32),
                                       ("resnet18", 64), ("mobilenet_v2", 64),
                                       ("deit_tiny_patch16_224", 32)])
def test_features_feed_the_head(name, size):
    torch.manual_seed(0)
    kw = {"patch_size": 16} if name.startswith("deit") else {}
    model = build_model(name, 7, image_size=size, **kw).eval()
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        logits = model(x)
        feats = model.forward_features(x)
        assert logits.shape == (2, 7) and feats.dim() == 2 and feats.shape[0] == 2
        assert torch.allclose(_head(model.net)(feats), logits, atol=1e-5)


def test_extract_features_returns_pooled_vectors():
    model = build_model("small_vit", 10, embed_dim=64, depth=2, num_heads=2)
    ds = torch.utils.data.TensorDataset(torch.rand(5, 3, 32, 32), torch.arange(5))
    f, y = extract_features(model, ds, batch_size=2)
    assert f.shape == (5, 64) and torch.equal(y, torch.arange(5))


def test_small_cnn_is_about_100k_params():
    n = sum(p.numel() for p in build_model("small_cnn", 10).parameters())
    assert 50_000 <= n <= 150_000


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="small_cnn"):
        build_model("resnet7", 10)
