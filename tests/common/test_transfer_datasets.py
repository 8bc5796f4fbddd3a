"""Transfer sets (SimReg Table A.13, NOLA few-shot) read from tiny files written in each release's layout."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workloads.common.datasets import DatasetMissingError
from workloads.common.transfer_datasets import (CALTECH_TRAINVAL_PER_CLASS, TRANSFER_SETS, load_transfer,
                                                 per_class_holdout, transfer_samples)


def _jpg(path: Path, value: int = 0, size=(12, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def _write(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_per_class_holdout_counts_fractions_and_is_seeded():
    labels = [0] * 10 + [1] * 5 + [2] * 1
    kept, held = per_class_holdout(labels, 2)
    assert Counter(labels[i] for i in held) == {0: 2, 1: 2}      # a 1-image class keeps its only image
    assert sorted(kept + held) == list(range(16))
    _, held_frac = per_class_holdout(labels, 0.2)
    assert Counter(labels[i] for i in held_frac) == {0: 2, 1: 1}  # floor(0.2 n_c)
    assert per_class_holdout(labels, 2) == (kept, held)


def test_cub200_official_split_and_image(tmp_path):
    base = tmp_path / "CUB_200_2011"
    rows = [("1", "001.Black_footed_Albatross/a_1.jpg", "1", "1"), ("2", "001.Black_footed_Albatross/a_2.jpg", "1", "0"),
            ("3", "002.Laysan_Albatross/b_1.jpg", "2", "1"), ("4", "002.Laysan_Albatross/b_2.jpg", "2", "0"),
            ("5", "002.Laysan_Albatross/b_3.jpg", "2", "0")]
    for i, rel, _, _ in rows:
        _jpg(base / "images" / rel, value=int(i) * 40)
    _write(base / "images.txt", [f"{i} {rel}" for i, rel, _, _ in rows])
    _write(base / "image_class_labels.txt", [f"{i} {c}" for i, _, c, _ in rows])
    _write(base / "train_test_split.txt", [f"{i} {t}" for i, _, _, t in rows])
    train = load_transfer("cub200", "trainval", root=tmp_path, image_size=8)
    test = load_transfer("cub200", "test", root=tmp_path, image_size=8)
    assert train.targets == [0, 1] and test.targets == [0, 1, 1]
    assert train.classes == ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    x, y = test[2]
    assert x.shape == (3, 8, 8) and y == 1 and abs(float(x.mean()) - 200 / 255) < 0.01


def test_caltech101_thirty_per_class_trainval_rest_test_and_five_val(tmp_path):
    base = tmp_path / "caltech101" / "101_ObjectCategories"
    counts = {"BACKGROUND_Google": 31, "accordion": 33}
    for name, n in counts.items():
        for j in range(n):
            _jpg(base / name / f"image_{j + 1:04d}.jpg", size=(4, 4))
    trainval, classes = transfer_samples("caltech101", "trainval", tmp_path)
    test, _ = transfer_samples("caltech101", "test", tmp_path)
    val, _ = transfer_samples("caltech101", "val", tmp_path)
    assert classes == ["BACKGROUND_Google", "accordion"]      # every folder (Table A.13's 30 x 102)
    assert Counter(t for _, t in trainval) == {0: CALTECH_TRAINVAL_PER_CLASS, 1: CALTECH_TRAINVAL_PER_CLASS}
    assert Counter(t for _, t in test) == {0: 1, 1: 3}
    assert Counter(t for _, t in val) == {0: 5, 1: 5}
    assert not {p for p, _ in trainval} & {p for p, _ in test}
    assert transfer_samples("caltech101", "test", tmp_path) == (test, classes)   # the seeded split is stable


def test_food101_meta_files_and_seventy_five_val_per_class(tmp_path):
    base = tmp_path / "food-101"
    train = [f"apple_pie/{i}" for i in range(77)] + ["baby_back_ribs/900", "baby_back_ribs/901"]
    test = ["apple_pie/5000", "baby_back_ribs/5001"]
    for ln in train + test:
        _jpg(base / "images" / f"{ln}.jpg", size=(4, 4))
    _write(base / "meta" / "classes.txt", ["apple_pie", "baby_back_ribs"])
    _write(base / "meta" / "train.txt", train)
    _write(base / "meta" / "test.txt", test)
    val, _ = transfer_samples("food101", "val", tmp_path)
    tr, _ = transfer_samples("food101", "train", tmp_path)
    assert Counter(t for _, t in val) == {0: 75, 1: 1} and Counter(t for _, t in tr) == {0: 2, 1: 1}
    assert [t for _, t in transfer_samples("food101", "test", tmp_path)[0]] == [0, 1]


def test_sun397_partition_one(tmp_path):
    base = tmp_path / "SUN397"
    for rel in ("a/abbey/sun_1.jpg", "a/abbey/sun_2.jpg", "b/bakery/shop/sun_3.jpg", "b/bakery/shop/sun_4.jpg"):
        _jpg(base / rel, size=(4, 4))
    _write(base / "Partitions" / "ClassName.txt", ["/a/abbey", "/b/bakery/shop"])
    _write(base / "Partitions" / "Training_01.txt", ["/a/abbey/sun_1.jpg", "/b/bakery/shop/sun_3.jpg"])
    _write(base / "Partitions" / "Testing_01.txt", ["/a/abbey/sun_2.jpg", "/b/bakery/shop/sun_4.jpg"])
    test, classes = transfer_samples("sun397", "test", tmp_path)
    assert [t for _, t in test] == [0, 1] and classes == ["a/abbey", "b/bakery/shop"]
    assert len(load_transfer("sun397", "trainval", root=tmp_path, image_size=4)) == 2


def test_stanford_cars_mat_annotations(tmp_path):
    from scipy.io import savemat

    base = tmp_path / "stanford_cars"
    dtype = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]
    for folder, mat, rows in (("cars_train", base / "devkit" / "cars_train_annos.mat",
                               [(1, 1, 5, 5, 2, "00001.jpg"), (1, 1, 5, 5, 1, "00002.jpg")]),
                              ("cars_test", base / "cars_test_annos_withlabels.mat", [(1, 1, 5, 5, 2, "00001.jpg")])):
        for r in rows:
            _jpg(base / folder / r[-1], size=(6, 6))
        mat.parent.mkdir(parents=True, exist_ok=True)
        savemat(mat, {"annotations": np.array([tuple(r) for r in rows], dtype=dtype)})
    savemat(base / "devkit" / "cars_meta.mat", {"class_names": np.array(["AM General Hummer", "Acura RL"], dtype=object)})
    trainval, classes = transfer_samples("cars", "trainval", tmp_path)
    assert [t for _, t in trainval] == [1, 0] and classes == ["AM General Hummer", "Acura RL"]
    assert [p.name for p, _ in transfer_samples("cars", "test", tmp_path)[0]] == ["00001.jpg"]


def test_aircraft_variant_lists(tmp_path):
    data = tmp_path / "fgvc-aircraft-2013b" / "data"
    for i in ("0001", "0002", "0003"):
        _jpg(data / "images" / f"{i}.jpg", size=(4, 4))
    _write(data / "variants.txt", ["707-320", "A300B4"])
    _write(data / "images_variant_trainval.txt", ["0001 707-320", "0002 A300B4"])
    _write(data / "images_variant_test.txt", ["0003 A300B4"])
    assert [t for _, t in transfer_samples("aircraft", "trainval", tmp_path)[0]] == [0, 1]
    assert [t for _, t in transfer_samples("aircraft", "test", tmp_path)[0]] == [1]
    assert TRANSFER_SETS["aircraft"].accuracy == "mean_per_class"


def test_dtd_provided_train_val_test_partition_one(tmp_path):
    data = tmp_path / "dtd" / "dtd"
    for rel in ("banded/banded_1.jpg", "banded/banded_2.jpg", "blotchy/blotchy_1.jpg"):
        _jpg(data / "images" / rel, size=(4, 4))
    _write(data / "labels" / "train1.txt", ["banded/banded_1.jpg"])
    _write(data / "labels" / "val1.txt", ["blotchy/blotchy_1.jpg"])
    _write(data / "labels" / "test1.txt", ["banded/banded_2.jpg"])
    assert [t for _, t in transfer_samples("dtd", "val", tmp_path)[0]] == [1]
    assert [t for _, t in transfer_samples("dtd", "trainval", tmp_path)[0]] == [0, 1]
    assert [t for _, t in transfer_samples("dtd", "test", tmp_path)[0]] == [0]


def test_pets_annotation_lists(tmp_path):
    base = tmp_path / "oxford-iiit-pet"
    for name in ("Abyssinian_1", "american_bulldog_2", "Abyssinian_3"):
        _jpg(base / "images" / f"{name}.jpg", size=(4, 4))
    _write(base / "annotations" / "trainval.txt", ["Abyssinian_1 1 1 1", "american_bulldog_2 2 2 1"])
    _write(base / "annotations" / "test.txt", ["Abyssinian_3 1 1 1"])
    trainval, classes = transfer_samples("pets", "trainval", tmp_path)
    assert [t for _, t in trainval] == [0, 1] and classes == ["Abyssinian", "american_bulldog"]


def test_flowers_mat_setid(tmp_path):
    from scipy.io import savemat

    base = tmp_path / "flowers-102"
    for i in range(1, 5):
        _jpg(base / "jpg" / f"image_{i:05d}.jpg", size=(4, 4))
    savemat(base / "imagelabels.mat", {"labels": np.array([[1, 2, 2, 1]])})
    savemat(base / "setid.mat", {"trnid": np.array([[1]]), "valid": np.array([[2]]), "tstid": np.array([[3, 4]])})
    assert [t for _, t in transfer_samples("flowers", "trainval", tmp_path)[0]] == [0, 1]
    test, _ = transfer_samples("flowers", "test", tmp_path)
    assert [(p.name, t) for p, t in test] == [("image_00003.jpg", 1), ("image_00004.jpg", 0)]


@pytest.mark.parametrize("name", sorted(TRANSFER_SETS))
def test_missing_data_names_the_path_and_the_data_root(tmp_path, name):
    with pytest.raises(DatasetMissingError) as err:
        transfer_samples(name, "test", tmp_path)
    text = str(err.value)
    assert str(tmp_path / TRANSFER_SETS[name].folder) in text and "$ORCHESTRATOR_DATA" in text


def test_an_image_listed_but_absent_is_named(tmp_path):
    data = tmp_path / "fgvc-aircraft-2013b" / "data"
    _write(data / "variants.txt", ["707-320"])
    _write(data / "images_variant_test.txt", ["0009 707-320"])
    with pytest.raises(DatasetMissingError, match="0009.jpg"):
        transfer_samples("aircraft", "test", tmp_path)
