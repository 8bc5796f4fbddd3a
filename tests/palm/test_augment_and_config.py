"""The shared test-time augmentation (item 5), the per-dataset presets (items 2, 6-8) and what a trial records."""
from __future__ import annotations

import math

import pytest
import torch

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from workloads.palm.augment import TTAugment, color_jitter_pro, random_affine_edge_padded
from workloads.palm.config import PalmConfig, resolve

import workloads.palm.workload  # noqa: F401  (registers "palm")


def test_affine_pads_with_edge_pixels_not_black():
    """transforms_cotta.py:146: Pad(n/2, 'edge') before the affine: a constant image stays constant (the former
    zero fill put black corners into every rotated or shrunk view)."""
    x = torch.full((2, 3, 16, 16), 0.6)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        out = random_affine_edge_padded(x, g)
        assert out.shape == x.shape
        assert torch.allclose(out, x, atol=1e-5)


def test_affine_moves_content_and_keeps_the_size():
    x = torch.zeros(1, 1, 16, 16)
    x[..., 4:12, 6:10] = 1.0
    out = random_affine_edge_padded(x, torch.Generator().manual_seed(3))
    assert out.shape == x.shape and not torch.allclose(out, x, atol=1e-3)


def test_colour_jitter_uses_the_strong_ranges_and_gamma():
    """soft=False: brightness factor up to 1.4 and gamma down to 0.7; a mid-grey pixel ends in a wide range."""
    x = torch.full((1, 3, 2, 2), 0.5)
    g = torch.Generator().manual_seed(0)
    values = torch.stack([color_jitter_pro(x, g)[0, 0, 0, 0] for _ in range(300)])
    assert values.max() > 0.66 and values.min() < 0.36  # ±0.1 (soft) jitter cannot leave [0.36, 0.66]
    zero = color_jitter_pro(torch.zeros(1, 3, 4, 4), g)
    assert torch.isfinite(zero).all()  # gamma after a clamp to 1e-8 (line 117), never NaN


def test_augment_is_batch_wide_reproducible_and_clipped():
    x = torch.rand(4, 3, 8, 8)
    a = TTAugment(8, generator=torch.Generator().manual_seed(1))(x)
    b = TTAugment(8, generator=torch.Generator().manual_seed(1))(x)
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1 and a.shape == x.shape
    same = TTAugment(8, noise_std=0.0, generator=torch.Generator().manual_seed(2))(x.new_ones(2, 3, 8, 8) * 0.3)
    assert torch.allclose(same[0], same[1])  # one draw of the parameters for the whole batch


@pytest.mark.parametrize("dataset, expected", [
    ("cifar10c", dict(kappa=5e-4, alpha=0.5, temperature=50.0, eta=1.0, weight_decay=0.0, tent_lr=1e-3,
                      tent_optimizer="adam", cotta_lr=1e-3, cotta_optimizer="adam", cotta_loss="ce", cotta_restore=0.01,
                      law_lr=1e-3, law_tau=1.0, batch_size=200)),
    ("cifar100c", dict(alpha=0.9, temperature=100.0, eta=0.5, weight_decay=5e-4, cotta_threshold=0.72, law_lr=5e-5,
                       law_tau=0.6)),
    ("imagenetc", dict(kappa=5e-5, temperature=1000.0, eta=0.3, tent_lr=2.5e-4, tent_optimizer="sgd", cotta_lr=0.01,
                       cotta_optimizer="sgd", cotta_loss="symmetric", cotta_restore=0.001, cotta_threshold=0.1,
                       law_lr=2e-4, law_tau=1.0, surgical_lr=5e-4, batch_size=64)),
])
def test_presets_are_the_codes_cfgs(dataset, expected):
    cfg = resolve(PalmConfig(dataset=dataset))
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert cfg.reading == "official"


def test_explicit_values_override_the_preset():
    cfg = resolve(PalmConfig(dataset="cifar100c", weight_decay=0.0, cotta_restore=0.0, tent_optimizer="sgd"))
    assert (cfg.weight_decay, cfg.cotta_restore, cfg.tent_optimizer) == (0.0, 0.0, "sgd")


def test_unknown_reading_is_a_config_error():
    with pytest.raises(ConfigError, match="reading"):
        build_config(get_workload("palm"), {"reading": "text"})


@pytest.mark.parametrize("reading", ["official", "paper"])
def test_trial_records_reading_and_fractions_per_task(tmp_path, smoke_cache, reading):
    wl = get_workload("palm")
    # both readings (and the other PALM smoke tests of this worker) adapt the one cached source model
    ctx = LocalContext(seed=0, scale="smoke", device="cpu", work_dir=tmp_path / "w", cache_dir=smoke_cache)
    wl.fn(build_config(wl, dict(dataset="synthetic", source_epochs=1, max_batches_per_task=1, n_per_task=32,
                                method="palm", reading=reading)), ctx)
    s = {k: float(v) for k, v in ctx.summaries.items()}
    assert s["reading_is_paper"] == float(reading == "paper")
    for name in ("adapted_pct", "selected_pct"):
        per_task = [v for k, v in s.items() if k.startswith(name + "_")]
        assert len(per_task) == 15 and all(0.0 <= v <= 100.0 for v in per_task)
        assert s[name] == pytest.approx(sum(per_task) / 15)
    assert s["adapted_pct"] >= s["selected_pct"] - 1e-9
    if reading == "paper":
        assert s["adapted_pct"] == pytest.approx(s["selected_pct"])
    assert not math.isnan(s["mean_error"])
