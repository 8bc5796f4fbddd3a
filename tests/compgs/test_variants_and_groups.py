"""Named table rows and codebook groups: what they set, and one-paragraph errors for bad input."""
import pytest
import torch

from orchestrator.registry import ConfigError, build_config, get_workload
from workloads.compgs.groups import GroupQuantizer, codebook_size, parse_groups
from workloads.compgs.quantizer import VQSchedule
from workloads.compgs.variants import VARIANTS, apply_variant
from workloads.compgs.workload import _training_key, check_config


def cfg(**kw):
    return build_config(get_workload("compgs"), kw)


def test_variant_fills_fields_and_refuses_conflicts():
    c = apply_variant(cfg(variant="compgs_32k_bitq"))
    assert (c.method, c.cov_codes, c.position_bits, c.opacity_bits, c.lambda_reg) == ("compgs", 32768, 16, 8, 1.0)
    assert apply_variant(cfg(variant="int8_no_pos")).position_bits == 32
    with pytest.raises(ConfigError, match="cov_codes"):
        apply_variant(cfg(variant="compgs_16k", cov_codes=4096))
    with pytest.raises(ConfigError, match="unknown variant"):
        apply_variant(cfg(variant="compgs_64k"))
    assert VARIANTS["vq_shdc_scale_rot"]["quantize"] == "sh+dc,scale,rot"


def test_groups_parse_and_sizes():
    assert parse_groups("sh+dc, scale,rot", 3) == {"sh+dc": ["sh", "dc"], "scale": ["scale"], "rot": ["rot"]}
    assert codebook_size(["sh", "dc"], 4096, 16384, 99, 1 / 64) == 64
    assert codebook_size(["rot"], 4096, 32768, 99, 1 / 64) == 512
    assert codebook_size(["dc"], 128, 1, 1, 1 / 64) == 2  # never below 2 codes
    for bad, msg in (("sh,opacity", "quantizable"), ("sh,sh+dc", "twice")):
        with pytest.raises(ConfigError, match=msg):
            parse_groups(bad, 3)
    with pytest.raises(ConfigError, match="sh_degree=0"):
        parse_groups("sh", 0)
    with pytest.raises(ConfigError, match=">= 1"):
        codebook_size(["dc"], 0, 1, 1, 1.0)


def test_config_checks():
    for kw, msg in ((dict(position_bits=24), "position_bits"), (dict(method="compgs", quantize=""), "quantize"),
                    (dict(method="3dgs", shared_codebook=True), "shared_codebook"),
                    (dict(shared_codebook=True, scene="mini", codebook_scene="mini"), "another scene")):
        with pytest.raises(ConfigError, match=msg):
            check_config(cfg(**kw))


def test_storage_only_settings_share_one_training():
    a, b = apply_variant(cfg(variant="3dgs")), apply_variant(cfg(variant="int8"))
    assert _training_key(a, 0) == _training_key(b, 0) != _training_key(a, 1)
    assert _training_key(apply_variant(cfg(variant="post_kmeans_4k")), 0) == _training_key(a, 0)
    assert _training_key(apply_variant(cfg(variant="compgs_32k")), 0) == _training_key(
        apply_variant(cfg(variant="compgs_32k_bitq")), 0)


def test_group_quantizer_splits_shared_codebook_and_freezes():
    g = torch.Generator().manual_seed(0)
    attrs = {"dc": torch.randn(30, 3, generator=g), "sh": torch.randn(30, 45, generator=g)}
    q = GroupQuantizer({"sh+dc": ["sh", "dc"]}, {"sh+dc": 4}, VQSchedule(0, 10, 1, 1), seed=0)
    out = q(attrs, 0)
    assert out["sh"].shape == (30, 45) and out["dc"].shape == (30, 3)
    joint = torch.cat([out["sh"], out["dc"]], 1)
    cents = q.books["sh+dc"].centroids
    assert cents.shape == (4, 48) and float((joint.detach()[:, None] - cents[None]).abs().amax(-1).min(1).values.max()) < 1e-5
    frozen = q.books["sh+dc"].centroids.clone()
    q2 = GroupQuantizer({"sh+dc": ["sh", "dc"]}, {"sh+dc": 4}, VQSchedule(0, 10, 1, 1), seed=1)
    q2.freeze({"sh+dc": frozen})
    q2({k: v + 0.3 for k, v in attrs.items()}, 0)
    assert torch.equal(q2.books["sh+dc"].centroids, frozen)  # assignments only
    with pytest.raises(ConfigError, match="size"):
        q2.freeze({"sh+dc": frozen[:2]})
