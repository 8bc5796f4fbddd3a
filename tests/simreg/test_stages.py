"""Table A.17's intermediate-stage features: pooling grid, reduction, hooks on the students' stages."""
from __future__ import annotations

import pytest
import torch

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from workloads.cmsf.networks import Backbone
from workloads.common.models import build_model
from workloads.simreg.stages import pooled_grid, reduce_map, stage_extractors


def test_pooled_grid_matches_the_backbone_width():
    assert pooled_grid(64, 512) == 3            # 64 * 9 = 576 is the closest to 512
    assert pooled_grid(128, 512) == 2 and pooled_grid(512, 512) == 1
    assert pooled_grid(2048, 512) == 1          # never below one cell


def test_reduce_map_averages_blocks():
    fmap = torch.arange(2 * 4 * 4, dtype=torch.float64).reshape(1, 2, 4, 4)
    out = reduce_map(fmap, 8)                   # g = 2: four 2x2 blocks per channel
    expected = torch.stack([fmap[0, c, i:i + 2, j:j + 2].mean() for c in range(2) for i in (0, 2) for j in (0, 2)])
    assert torch.allclose(out[0], expected)


def test_resnet18_stages_shapes_and_last_stage_is_the_backbone_feature():
    torch.manual_seed(0)
    backbone = Backbone(build_model("resnet18", 10, image_size=64)).eval()
    x = torch.rand(2, 3, 64, 64)
    feats = {k: f(x) for k, f in stage_extractors(backbone, backbone.dim).items()}
    assert list(feats) == ["stage0", "stage1", "stage2", "stage3", "stage4"]
    assert feats["stage0"].shape == (2, 64 * 9) and feats["stage2"].shape == (2, 128 * 4)
    with torch.no_grad():
        assert torch.allclose(feats["stage4"], backbone(x), atol=1e-6)   # ResBlk-4 pooled to 1x1 = the backbone


def test_stage_knn_in_the_workload_and_an_unsupported_student(tmp_path):
    wl = get_workload("simreg")
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / "w", cache_dir=tmp_path / "c")
    wl.fn(build_config(wl, {"dataset": "synthetic", "steps": 2, "linear_epochs": 1, "stage_knn": True,
                            "equal_width": True}), ctx)
    for j in range(4):                          # the small CNN: Conv-1 and three stages
        assert 0 <= ctx.summaries[f"stage{j}_nn1"] <= 100 and f"stage{j}_nn20" in ctx.summaries
    vit = Backbone(build_model("small_vit", 10))
    with pytest.raises(ConfigError, match="stage_knn"):
        stage_extractors(vit, vit.dim)
