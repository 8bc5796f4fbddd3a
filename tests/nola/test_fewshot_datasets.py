"""NOLA few-shot on CUB-200-2011 and Caltech-101 (Table 3.15's columns) from tiny folders in the release layouts."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PIL import Image

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from orchestrator.spec import dump_trials, load_sweep
from support.real_format import timm_vit_layout_state, write_caltech101, write_cifar, write_cub200, write_pets
from workloads.common.datasets import DatasetMissingError
from workloads.common.transfer_datasets import transfer_samples
from workloads.nola.config import NolaConfig
from workloads.nola.fewshot import kshot_per_class
from workloads.nola.fewshot_transfer import as_unit_float, transfer_fewshot
from workloads.nola.requirements import requirements
from workloads.nola.vit_checkpoint import default_checkpoint_path, resize_center_crop

ROOT = Path(__file__).resolve().parents[2]


def _paper_ctx(tmp_path, scale="paper"):
    return LocalContext(seed=0, scale=scale, work_dir=tmp_path, cache_dir=tmp_path / "cache", device="cpu",
                        data_root=tmp_path / "data")


def test_kshot_reseeds_per_class_as_the_authors_loader():
    """vit/dataloader.py __kshot__: per class, manual_seed(seed) then randperm(n_class)[:k] over that class's
    samples in data-set order."""
    labels = torch.tensor([1, 0, 0, 1, 0, 1, 1, 0, 2, 2, 2, 0, 1])
    got = kshot_per_class(labels, 2, seed=3)
    expected = []
    for c in (0, 1, 2):
        members = [i for i, t in enumerate(labels.tolist()) if t == c]
        g = torch.Generator()
        g.manual_seed(3)
        expected += [members[j] for j in torch.randperm(len(members), generator=g)[:2].tolist()]
    assert got.tolist() == expected
    # the re-seeding means equal-size classes take the same positions; another seed another set
    assert kshot_per_class(torch.tensor([0] * 6 + [1] * 6), 3, 0).tolist()[3:] == [
        6 + i for i in kshot_per_class(torch.tensor([0] * 6), 3, 0).tolist()]
    assert kshot_per_class(labels, 2, 0).tolist() != got.tolist()
    with pytest.raises(ValueError, match="fewer than shots=4"):
        kshot_per_class(labels, 4, 0)


def test_cub_shots_from_train_scored_on_test_with_the_authors_transform(tmp_path):
    base = write_cub200(tmp_path, train_per_class=6, test_per_class=2)
    d = transfer_fewshot("cub200", tmp_path, shots=5, sample=1)
    assert d.num_classes == 2 and d.y_train.tolist() == [0] * 5 + [1] * 5 and d.y_test.tolist() == [0, 0, 1, 1]
    assert d.x_train.shape == (10, 3, 256, 256) and d.x_test.shape == (4, 3, 256, 256)
    # decoded image, then the model's ResizeCrop(224) == vit/dataloader.py's Resize(256), CenterCrop(224)
    from torchvision import transforms

    first_test = transfer_samples("cub200", "test", tmp_path)[0][0][0]
    assert first_test.parent.parent == base / "images"
    with Image.open(first_test) as img:
        ref = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224),
                                  transforms.ToTensor()])(img.convert("RGB"))
    assert d.x_test.dtype == torch.uint8 and d.x_train.dtype == torch.float32
    torch.testing.assert_close(resize_center_crop(as_unit_float(d.x_test[:1]), 224)[0], ref, atol=1e-6, rtol=0)


def test_cifar_at_paper_scale_draws_from_train_and_scores_the_test_batch(tmp_path):
    """vit/dataloader.py: the k shots come from train/, the score from val/ (CIFAR's test batch)."""
    import pickle

    from workloads.nola.workload import fewshot_splits

    base = write_cifar(tmp_path / "data", "cifar10", n_train=40, n_test=10)
    cfg = build_config(get_workload("nola"), {"experiment": "fewshot", "dataset": "cifar10", "shots": 2, "sample": 3})
    xtr, ytr, xte, yte, source, classes = fewshot_splits(cfg, _paper_ctx(tmp_path))
    with open(base / "test_batch", "rb") as fh:
        test_labels = pickle.load(fh)["labels"]
    train_labels = []
    for i in range(1, 6):
        with open(base / f"data_batch_{i}", "rb") as fh:
            train_labels += pickle.load(fh)["labels"]
    assert yte.tolist() == list(test_labels) and xte.shape[0] == 10 and (source, classes) == ("cifar10", 10)
    assert ytr.tolist() == [train_labels[i] for i in kshot_per_class(torch.tensor(train_labels), 2, 3).tolist()]
    reqs = requirements(cfg, tmp_path / "data", "paper")
    missing = requirements(cfg, tmp_path / "none", "paper")[0].missing
    assert reqs[0].found and tmp_path / "none" / base.name / "test_batch" in missing


def test_missing_folders_name_the_path_in_the_trial_and_in_doctor(tmp_path):
    for name, path in (("cub200", "CUB_200_2011/images.txt"), ("caltech101", "caltech101/101_ObjectCategories")):
        wl = get_workload("nola")
        with pytest.raises(DatasetMissingError, match=str(tmp_path / "data" / path)):
            wl.fn(build_config(wl, {"experiment": "fewshot", "dataset": name}), _paper_ctx(tmp_path))
        reqs = requirements(NolaConfig(experiment="fewshot", dataset=name), tmp_path / "data", "paper")
        assert reqs[0].name == name and not reqs[0].found and reqs[0].path == tmp_path / "data" / path.split("/")[0]
    write_cub200(tmp_path / "data")
    assert requirements(NolaConfig(experiment="fewshot", dataset="cub200"), tmp_path / "data", "paper")[0].found
    for name, folder in (("aircraft", "fgvc-aircraft-2013b"), ("food101", "food-101"), ("pets", "oxford-iiit-pet"),
                         ("sun397", "SUN397")):   # Table 3.16's sets
        (req, _) = requirements(NolaConfig(experiment="fewshot", dataset=name), tmp_path / "data", "paper")
        assert req.name == name and not req.found and req.path == tmp_path / "data" / folder


def test_below_paper_scale_without_a_backbone_is_a_clear_error(tmp_path):
    wl = get_workload("nola")
    with pytest.raises(ConfigError, match="--scale paper"):
        wl.fn(build_config(wl, {"experiment": "fewshot", "dataset": "cub200"}), _paper_ctx(tmp_path, "mini"))


def test_paper_sweeps_cover_the_tables_data_set_columns():
    for sweep, table in (("nola/fewshot_vit.yaml", "nola-table3.15"), ("nola/fewshot_vit_text.yaml", "nola-table3.15"),
                         ("nola/tableB12_qv_mlp.yaml", "nola-tableB.12"),
                         ("nola/table3_16_fewshot.yaml", "nola-table3.16"),
                         ("nola/table3_16_fewshot_lora.yaml", "nola-table3.16")):
        lines = [l for l in (ROOT / "results" / "published" / f"{table}.csv").read_text().splitlines()
                 if not l.startswith("#")]
        header = next(csv.reader(lines))
        columns = {c.split("/")[0] for c in header if c.count("/") == 1}
        assert {t["dataset"] for t in dump_trials(load_sweep(sweep, "paper"))} == columns


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cub200", "caltech101", "pets"])
def test_paper_scale_fewshot_trial_on_the_release_layout(tmp_path, name):
    data = tmp_path / "data"
    {"cub200": write_cub200, "caltech101": write_caltech101, "pets": write_pets}[name](data)
    path = default_checkpoint_path(data, "vit_b16_in21k")
    path.parent.mkdir(parents=True)
    torch.save(timm_vit_layout_state(), path)
    wl = get_workload("nola")
    ctx = _paper_ctx(tmp_path)
    wl.fn(build_config(wl, {"experiment": "fewshot", "dataset": name, "shots": 5, "epochs": 0, "steps": 2,
                            "batch_size": 8, "method": "nola", "target": "mlp", "basis_size": 16}), ctx)
    s = ctx.summaries
    assert 0.0 <= s["accuracy"] <= 100.0 and s["trainable_params"] == 2 * 2 * 16
