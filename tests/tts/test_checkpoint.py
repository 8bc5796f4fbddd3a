"""Loading RevCol weights: official layout, our saves, and clear errors."""
import pytest
import torch

from workloads.common.models import CheckpointError
from workloads.tts.checkpoint import load_revcol_weights
from workloads.tts.revcol import build_revcol


def test_official_layout_loads_backbone_and_last_head_only(micro_model, tmp_path):
    state = {f"module.{k}": v for k, v in micro_model.state_dict().items()}
    state["module.decoder_blocks.0.projback.0.weight"] = torch.zeros(3)  # intermediate-supervision decoder
    path = tmp_path / "revcol.pth"
    torch.save({"model": state, "epoch": 299}, path)
    fresh = build_revcol("revcol_micro", 10)
    head0_before = fresh.cls_blocks[0].classifier[1].weight.clone()
    untouched = load_revcol_weights(fresh, path, early_heads=False)
    assert untouched and all(k.startswith(("cls_blocks.0.", "cls_blocks.1.", "cls_blocks.2.")) for k in untouched)
    assert torch.equal(fresh.cls_blocks[0].classifier[1].weight, head0_before)
    assert torch.equal(fresh.cls_blocks[3].classifier[1].weight, micro_model.cls_blocks[3].classifier[1].weight)
    assert torch.equal(fresh.subnet2.alpha1, micro_model.subnet2.alpha1)
    load_revcol_weights(fresh, path, early_heads=True)
    assert torch.equal(fresh.cls_blocks[0].classifier[1].weight, micro_model.cls_blocks[0].classifier[1].weight)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(fresh(x), micro_model(x))


def test_missing_corrupt_and_mismatched_checkpoints_explain_the_fix(micro_model, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist.*nothing is downloaded"):
        load_revcol_weights(micro_model, tmp_path / "none.pth", early_heads=False)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_revcol_weights(micro_model, bad, early_heads=False)
    other = tmp_path / "other.pth"
    torch.save(build_revcol("revcol_micro", 10, columns=2).state_dict(), other)
    with pytest.raises(CheckpointError, match="missing keys.*arch"):
        load_revcol_weights(micro_model, other, early_heads=False)
    wrong_classes = tmp_path / "classes.pth"
    torch.save(build_revcol("revcol_micro", 7).state_dict(), wrong_classes)
    with pytest.raises(CheckpointError, match="shapes differ"):
        load_revcol_weights(micro_model, wrong_classes, early_heads=False)


def test_revcol_tiny_matches_the_official_size():
    """RevCol-T (official config): 4 columns, widths 64-512, depths 2-2-4-2, about 30 M parameters and
    4.5 GFLOPs at 224 px for the plain model (RevCol paper, Table 1)."""
    from workloads.common.flops import gflops_per_image

    model = build_revcol("revcol_tiny", 1000)
    heads = sum(p.numel() for p in model.cls_blocks[:-1].parameters())
    assert 29.5e6 < sum(p.numel() for p in model.parameters()) - heads < 30.5e6
    assert gflops_per_image(model.eval(), (3, 224, 224)) == pytest.approx(4.5, abs=0.1)
