"""LPIPS from a local backbone checkpoint (random AlexNet here: nothing is downloaded) and its CompGS summary metric."""
import pytest
import torch
import torchvision

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload
from workloads.compgs.lpips_metric import LPIPSWeightsError, backbone_key_map, build_lpips, lpips_distance

SMOKE = dict(scene="smoke", iterations=20, grad_multiplier=10.0, opacity_reset_interval=7500, codebook_scale=0.004,
             reg_multiplier=250.0, fps_repeats=1, variant="3dgs")


@pytest.fixture(scope="module")
def alex_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("lpips") / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def metric(alex_file):
    return build_lpips(alex_file, "alex")


def _image(seed, size=40):
    return torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed))


def test_identity_symmetry_and_growth_with_noise(metric):
    x, y = _image(0), _image(1)
    assert lpips_distance(metric, x, x) == pytest.approx(0.0, abs=1e-6)
    assert lpips_distance(metric, x, y) == pytest.approx(lpips_distance(metric, y, x), rel=1e-5, abs=1e-7)
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(3, 40, 40, generator=g)
    d = [lpips_distance(metric, x, (x + s * noise).clamp(0, 1)) for s in (0.02, 0.1, 0.4)]
    assert 0 < d[0] < d[1] < d[2]


def test_small_images_are_upsampled_not_rejected(metric):
    x = _image(3, 24)  # below AlexNet's 31 px minimum (the smoke scene's size)
    assert lpips_distance(metric, x, x) == pytest.approx(0.0, abs=1e-6)
    assert lpips_distance(metric, x, _image(4, 24)) > 0


def test_backbone_weights_are_the_saved_ones(alex_file, metric):
    saved = torch.load(alex_file, map_location="cpu", weights_only=True)
    mapping = backbone_key_map(metric.net)
    assert len(mapping) == 10  # 5 convs x (weight, bias)
    own = metric.net.state_dict()
    for key, tv_key in mapping.items():
        assert torch.equal(own[key], saved[tv_key]), key
    # a fresh random trunk differs from the file: loading was really applied
    import warnings
    from pathlib import Path

    import lpips
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fresh = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    assert not torch.equal(fresh.net.state_dict()["slice1.0.weight"], own["slice1.0.weight"])
    # the package's bundled linear calibration layers are the ones in use
    bundled = torch.load(Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth", map_location="cpu",
                         weights_only=True)
    assert torch.equal(metric.lin0.model[1].weight, bundled["lin0.model.1.weight"])


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "alexnet.pth"
    with pytest.raises(LPIPSWeightsError, match="nope/alexnet.pth.*do not exist.*features"):
        build_lpips(missing)


def test_wrong_keys_and_wrong_network_are_clear_errors(tmp_path, alex_file):
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(LPIPSWeightsError, match=r"bad\.pth.*lack.*features\.<i>\.weight"):
        build_lpips(bad)
    vgg_like = tmp_path / "vgg_like.pth"
    sd = torch.load(alex_file, weights_only=True)
    sd["features.0.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(sd, vgg_like)
    with pytest.raises(LPIPSWeightsError, match=r"vgg_like\.pth.*shapes do not match"):
        build_lpips(vgg_like)
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(LPIPSWeightsError, match="junk.pth.*could not be read"):
        build_lpips(junk)


def test_compgs_reports_lpips_only_with_local_weights(tmp_path, alex_file):
    wl = get_workload("compgs")
    cache = tmp_path / "cache"
    runs = {}
    for name, extra in (("with", {"lpips_weights": str(alex_file)}), ("without", {})):
        ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / name, cache_dir=cache)
        wl.fn(build_config(wl, {**SMOKE, **extra}), ctx)
        runs[name] = ctx.summaries
    assert 0 < runs["with"]["lpips"] < 2
    assert "lpips" not in runs["without"]
    # LPIPS is evaluation only: both runs share one training and agree on everything else
    assert runs["with"]["psnr"] == runs["without"]["psnr"]
    assert runs["with"]["train_time_s"] == runs["without"]["train_time_s"]


def test_compgs_missing_lpips_weights_fails_before_training(tmp_path):
    wl = get_workload("compgs")
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / "w", cache_dir=tmp_path / "c")
    with pytest.raises(LPIPSWeightsError, match="absent.pth"):
        wl.fn(build_config(wl, {**SMOKE, "lpips_weights": str(tmp_path / "absent.pth")}), ctx)
    assert not ctx.reports
