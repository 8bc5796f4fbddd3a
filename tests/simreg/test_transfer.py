"""SimReg's transfer evaluation (Tables 2.11, A.15, A.16) on tiny real-format transfer sets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload
from workloads.common.datasets import DatasetMissingError
from workloads.common.knn import mean_class_accuracy
from workloads.simreg.transfer import PAPER_TRANSFER, TRANSFER_SETS, accuracy_measure, metric_name


def test_mean_class_accuracy_weights_every_class_equally():
    labels = torch.tensor([0, 0, 0, 0, 1, 2, 2])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 2])
    # class 0: 3/4, class 1: 1/1, class 2: 1/2 -> mean 0.75; plain top-1 would be 5/7
    assert mean_class_accuracy(pred, labels) == pytest.approx(100 * (0.75 + 1.0 + 0.5) / 3)


def test_table_2_11_sets_and_their_measures():
    assert set(PAPER_TRANSFER) <= set(TRANSFER_SETS)
    assert [metric_name(s) for s in PAPER_TRANSFER][:3] == ["transfer_food101", "transfer_cifar10", "transfer_cifar100"]
    means = {s for s in PAPER_TRANSFER if accuracy_measure(s) == "mean_per_class"}
    assert means == {"aircraft", "pets", "caltech101", "flowers"}        # Table A.13's "Mean" rows


def _run(tmp_path, data_root, transfer):
    wl = get_workload("simreg")
    cfg = build_config(wl, {"dataset": "synthetic", "steps": 2, "linear_epochs": 2, "transfer": transfer})
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path / "w", cache_dir=tmp_path / "c", data_root=data_root)
    wl.fn(cfg, ctx)
    return ctx.summaries


def test_caltech101_transfer_on_release_layout(tmp_path):
    base = tmp_path / "data" / "caltech101" / "101_ObjectCategories"
    rng = np.random.default_rng(0)
    for c, name in enumerate(("accordion", "airplanes")):
        for j in range(32):
            img = np.clip(rng.normal(60 + 130 * c, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
            (base / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(base / name / f"image_{j:04d}.jpg")
    s = _run(tmp_path, tmp_path / "data", ["caltech101", "synthetic"])
    assert 0 <= s["transfer_caltech101"] <= 100
    assert s["transfer_mean"] == pytest.approx((s["transfer_caltech101"] + s["transfer_synthetic"]) / 2)


def test_missing_transfer_data_stops_the_trial_before_distillation(tmp_path, monkeypatch):
    import workloads.simreg.workload as wl_mod

    monkeypatch.setattr(wl_mod, "multi_teacher_loss", lambda *a: pytest.fail("distillation started"))
    with pytest.raises(DatasetMissingError, match="food-101"):
        _run(tmp_path, tmp_path / "empty", ["food101"])


def test_requirements_list_the_transfer_sets_found_or_missing(tmp_path):
    from workloads.simreg.config import SimRegConfig
    from workloads.simreg.requirements import requirements

    (tmp_path / "caltech101" / "101_ObjectCategories").mkdir(parents=True)
    reqs = {r.name: r for r in requirements(SimRegConfig(dataset="synthetic", teachers=["auto"],
                                                          transfer=["caltech101", "dtd"]), tmp_path, "paper")}
    assert reqs["caltech101"].found
    assert not reqs["dtd"].found and tmp_path / "dtd" / "dtd" / "labels" / "test1.txt" in reqs["dtd"].missing


def test_cifar_transfer_is_resized_per_item_to_the_source_size(tmp_path):
    import pickle
    from types import SimpleNamespace

    from workloads.simreg.transfer import transfer_splits

    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [*[(f"data_batch_{i}", 2) for i in range(1, 6)], ("test_batch", 3)]:
        with open(base / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [1] * n}, f)
    fit, test = transfer_splits("cifar10", ctx=SimpleNamespace(data_root=tmp_path), image_size=64)
    assert len(fit) == 10 and len(test) == 3          # train + val (all 50k in the real set) / the test batch
    x, y = test[0]
    assert x.shape == (3, 64, 64) and y == 1 and 0 <= float(x.min()) and float(x.max()) <= 1
