"""``orchestrator doctor``: every data set and checkpoint a sweep's trials read, found or missing (issue 20 item 3)."""
from __future__ import annotations

import pytest

from orchestrator.cli import main
from orchestrator.doctor import check
from orchestrator.registry import build_config, get_workload
from workloads.common.corruptions import CORRUPTIONS


PALM = ("--set", "method=palm")  # one method: EcoTTA's row also reads the clean training set


def _doctor(capsys, monkeypatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that rich folds no path
    rc = main(["doctor", *args])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _palm_cifar10c_files(root):
    """What palm/table1 reads at paper scale, as empty files (doctor checks presence, the loaders read them)."""
    ckpt = root / "checkpoints" / "palm" / "cifar10" / "corruptions" / "Standard.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    (root / "CIFAR-10-C").mkdir()
    for name in (*CORRUPTIONS, "labels"):
        (root / "CIFAR-10-C" / f"{name}.npy").write_bytes(b"")
    return ckpt


def test_missing_files_are_named_with_their_path_and_layout_and_fail(tmp_path, capsys, monkeypatch):
    rc, out = _doctor(capsys, monkeypatch, "palm/table1", "--scale", "paper", *PALM, "--data-root", str(tmp_path))
    assert rc == 1
    assert str(tmp_path / "checkpoints" / "palm" / "cifar10" / "corruptions" / "Standard.pt") in out
    assert "$DATA/CIFAR-10-C/labels.npy" in out and "$DATA/CIFAR-10-C/gaussian_noise.npy" in out
    assert "MISSING" in out and "RobustBench" in out and "<corruption>.npy" in out
    assert "0 of 2 found, 2 missing" in out


def test_present_files_are_found_and_pass(tmp_path, capsys, monkeypatch):
    _palm_cifar10c_files(tmp_path)
    rc, out = _doctor(capsys, monkeypatch, "palm/table1", *PALM, "--data-root", str(tmp_path))  # --scale defaults to paper
    assert rc == 0 and "2 of 2 found" in out and "MISSING" not in out and out.count("found") >= 3


def test_one_missing_corruption_is_the_one_named(tmp_path, capsys, monkeypatch):
    _palm_cifar10c_files(tmp_path)
    (tmp_path / "CIFAR-10-C" / "fog.npy").unlink()
    rc, out = _doctor(capsys, monkeypatch, "palm/table1", *PALM, "--data-root", str(tmp_path))
    assert rc == 1 and "$DATA/CIFAR-10-C/fog.npy" in out and "snow.npy" not in out and "1 of 2 found" in out


def test_smoke_scale_reads_nothing_from_disk(tmp_path, capsys, monkeypatch):
    rc, out = _doctor(capsys, monkeypatch, "palm/table1", "--scale", "smoke", "--data-root", str(tmp_path))
    assert rc == 0 and "nothing to read from disk" in out


def test_merges_the_grid_and_asks_every_distinct_config(tmp_path):
    """palm/eta at paper: three data sets, three source models, each listed once for all its grid points."""
    report = check(["palm/eta"], "paper", tmp_path)
    names = sorted(r.name for r in report.rows.values())
    assert names == ["cifar100c", "cifar10c", "imagenetc", "palm source model resnet50",
                     "palm source model resnext29_32x4d", "palm source model wrn28_10"]
    imagenet_c = next(r for r in report.rows.values() if r.name == "imagenetc")
    assert imagenet_c.path == tmp_path / "ImageNet-C" and len(imagenet_c.missing) == len(CORRUPTIONS)
    assert not report.ok


def test_a_named_sweep_with_a_bad_parameter_is_its_usual_error(capsys, monkeypatch, write_sweep):
    path = write_sweep("name: x\nworkload: palm\nparams: {datset: cifar10c}\n")
    rc, _ = _doctor(capsys, monkeypatch, str(path))
    assert rc == 2 and "datset" in _


@pytest.mark.parametrize("workload, params, scale, expected", [
    # GTTA visits every severity; an explicit relative checkpoint is under the data root
    ("palm", {"dataset": "imagenetc", "protocol": "gtta", "checkpoint": "mine/r50.pt"}, "paper",
     ["ImageNet-C/gaussian_noise/1", "ImageNet-C/gaussian_noise/5", "mine/r50.pt"]),
    ("tts", {"dataset": "imagenet", "arch": "revcol_tiny", "experiment": "specialize", "stream_split": "unlabeled"},
     "paper", ["imagenet/train", "imagenet/val", "imagenet/test", "checkpoints/tts/revcol_tiny_1k.pth"]),
    ("simreg", {"dataset": "imagenet", "teachers": ["moco_v2", "resnet18@t/r18.pt"], "transfer": ["cifar100"]},
     "paper", ["checkpoints/simreg/moco_v2_800ep.pth", "t/r18.pt", "cifar-100-python/train", "imagenet/val"]),
    ("nola", {"experiment": "e2e", "arch": "gpt2-large"}, "paper",
     ["e2e/trainset.csv", "e2e/testset_w_refs.csv", "checkpoints/nola/gpt2-large"]),
    ("nola", {}, "paper", ["cifar-10-batches-py/data_batch_5", "checkpoints/nola/vit_base_patch16_224.augreg_in21k.pt"]),
    ("slowformer", {"dataset": "imagenet", "method": "adavit", "arch": "deit_small_patch16_224"}, "paper",
     ["checkpoints/slowformer/deit_small_patch16_224-cd65a155.pth",
      "checkpoints/slowformer/adavit/deit_small_patch16_224.pth", "imagenet/train"]),
    ("compgs", {"scene": "mipnerf360/garden", "lpips_weights": "checkpoints/compgs/alexnet.pth"}, "paper",
     ["mipnerf360/garden/images_4", "mipnerf360/garden/sparse/cameras.bin", "checkpoints/compgs/alexnet.pth"]),
    ("cmsf", {"dataset": "imagenet100"}, "paper", ["imagenet/train", "imagenet100.txt"]),
])
def test_each_workload_names_what_it_reads(tmp_path, workload, params, scale, expected):
    from orchestrator.doctor import requirements_function

    wl = get_workload(workload)
    reqs = requirements_function(wl)(build_config(wl, params), tmp_path, scale)
    missing = {str(p.relative_to(tmp_path)) for r in reqs for p in r.missing}
    assert set(expected) <= missing, missing


def test_generated_data_and_small_scales_need_nothing(tmp_path):
    from orchestrator.doctor import requirements_function

    for workload, params in (("palm", {"dataset": "digits-c"}), ("tts", {"dataset": "digits"}),
                             ("compgs", {"scene": "mini"}), ("nola", {"experiment": "e2e"}),
                             ("slowformer", {"dataset": "digits"}), ("simreg", {}), ("cmsf", {})):
        wl = get_workload(workload)
        assert requirements_function(wl)(build_config(wl, params), tmp_path, "mini") == [], workload
