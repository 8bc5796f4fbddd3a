"""Density control keeps Adam's moments aligned; initialisation follows 3DGS."""
import math

import torch

from workloads.compgs.model import GaussianModel, attr_dims, nn_mean_sq_dist, rgb_to_dc
from workloads.compgs.sh import SH_C0

LRS = {"pos": 1e-3, "dc": 1e-3, "sh": 1e-3, "opacity": 1e-2, "scale": 1e-3, "rot": 1e-3}


def _model(n=20):
    g = torch.Generator().manual_seed(0)
    m = GaussianModel.from_points(torch.randn(n, 3, generator=g), torch.rand(n, 3, generator=g), 3)
    m.make_optimizer(LRS)
    return m


def _step(m):
    loss = sum((v ** 2).sum() for v in m.params.values())
    m.opt.zero_grad()
    loss.backward()
    m.opt.step()


def test_init_matches_3dgs_conventions():
    pts = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]])
    m = GaussianModel.from_points(pts, torch.full((4, 3), 0.75), 3)
    assert attr_dims(3)["sh"] == 45 and sum(attr_dims(3).values()) == 59 and attr_dims(0)["sh"] == 0
    assert torch.allclose(m.params["dc"] * SH_C0 + 0.5, torch.full((4, 3), 0.75))
    assert torch.allclose(torch.sigmoid(m.params["opacity"]), torch.full((4, 1), 0.1))
    # point 0: neighbours at squared distances 1, 4, 9 -> scale sqrt(14 / 3)
    assert math.isclose(float(torch.exp(m.params["scale"][0, 0].detach())), math.sqrt(14 / 3), rel_tol=1e-5)
    assert torch.allclose(nn_mean_sq_dist(pts, k=1), torch.tensor([1.0, 1.0, 4.0, 9.0]))
    assert torch.allclose(rgb_to_dc(torch.tensor([0.5])), torch.tensor([0.0]))


def test_keep_and_append_carry_adam_state():
    m = _model()
    _step(m)
    before = m.opt.state[m.params["pos"]]["exp_avg"].clone()
    mask = torch.arange(20) % 3 != 0
    m.keep(mask)
    st = m.opt.state[m.params["pos"]]
    assert torch.equal(st["exp_avg"], before[mask]) and len(m) == int(mask.sum())
    m.append({k: v.detach()[:2] for k, v in m.params.items()})
    st = m.opt.state[m.params["pos"]]
    assert st["exp_avg"].shape[0] == len(m) and torch.all(st["exp_avg"][-2:] == 0)
    _step(m)  # the optimiser still works on the new tensors


def test_densify_clones_small_splits_large_and_prunes():
    m = _model(4)
    with torch.no_grad():
        m.params["scale"][:] = torch.log(torch.tensor([0.001, 0.001, 0.5, 0.5]))[:, None]
        m.params["opacity"][3] = -10.0  # transparent: pruned
    grads = torch.tensor([1.0, 0.0, 1.0, 0.0])
    m.densify_and_prune(grads, 0.5, percent_dense=0.01, extent=10.0, min_opacity=0.005, generator=torch.Generator())
    # 0 cloned (2 copies), 1 kept, 2 split into 2 children (parent removed), 3 pruned -> 5
    assert len(m) == 5
    s = torch.exp(m.params["scale"].detach()).amax(1)
    assert torch.isclose(s, torch.tensor(0.5 / 1.6)).sum() == 2


def test_reset_opacity_caps_at_one_percent():
    m = _model()
    with torch.no_grad():
        m.params["opacity"][:5] = 3.0
    m.reset_opacity()
    assert float(torch.sigmoid(m.params["opacity"]).max()) <= 0.01 + 1e-6


def test_pruning_everything_is_a_clear_error():
    import pytest

    m = _model(3)
    with pytest.raises(RuntimeError, match="remove all 3 Gaussians"):
        m.keep(torch.zeros(3, dtype=torch.bool))


def test_min_opacity_baseline_survives_the_compressed_schedule(tmp_path):
    """3DGS prunes 100 Adam steps after an opacity reset; the scaled smoke schedule must keep that gap (min_opacity
    0.1 > the 0.01 reset ceiling would otherwise prune every Gaussian)."""
    from orchestrator.context import LocalContext
    from orchestrator.registry import build_config, get_workload

    wl = get_workload("compgs")
    cfg = build_config(wl, {"variant": "min_opacity", "scene": "smoke", "iterations": 60, "opacity_reset_interval": 7500,
                            "grad_multiplier": 10.0, "fps_repeats": 1})
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / "w", cache_dir=tmp_path / "c")
    wl.fn(cfg, ctx)
    assert ctx.summaries["num_gaussians"] > 0
