"""Real-format loaders on tiny files written in those formats; digits and digits-c."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from workloads.common.corruptions import CORRUPTIONS, corrupt_batch
from workloads.common.datasets import DatasetMissingError, _digits_arrays, fingerprint, load_dataset


def test_cifar10_python_batches(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [*[(f"data_batch_{i}", 3) for i in range(1, 6)], ("test_batch", 4)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(base / name, "wb") as f:
            pickle.dump({"data": data, "labels": list(range(n))}, f)
    train = load_dataset("cifar10", "train", root=tmp_path)
    test = load_dataset("cifar10", "test", root=tmp_path)
    assert len(train) == 15 and len(test) == 4
    x, y = test[2]
    with open(base / "test_batch", "rb") as f:
        raw = pickle.load(f)["data"][2].reshape(3, 32, 32)
    assert torch.allclose(x, torch.from_numpy(raw).float() / 255) and y == 2


def test_cifar100_fine_labels(tmp_path):
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    for name in ("train", "test"):
        with open(base / name, "wb") as f:
            pickle.dump({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [7, 99], "coarse_labels": [1, 2]}, f)
    assert [int(load_dataset("cifar100", "test", root=tmp_path)[i][1]) for i in range(2)] == [7, 99]


def test_cifar10c_npy_severity_slices(tmp_path):
    folder = tmp_path / "CIFAR-10-C"
    folder.mkdir()
    per = 6  # real files hold 10,000 per severity; the loader derives it from the length
    arr = np.zeros((5 * per, 32, 32, 3), np.uint8)
    for s in range(5):
        arr[s * per:(s + 1) * per] = s + 1
    np.save(folder / "fog.npy", arr)
    np.save(folder / "labels.npy", np.tile(np.arange(per), 5).astype(np.uint8))
    ds = load_dataset("cifar10c", "test", root=tmp_path, corruption="fog", severity=3)
    assert len(ds) == per
    x, y = ds[1]
    assert x.shape == (3, 32, 32) and torch.allclose(x, torch.full_like(x, 3 / 255)) and y == 1
    with pytest.raises(DatasetMissingError, match="CIFAR-10-C/snow.npy"):
        load_dataset("cifar10c", "test", root=tmp_path, corruption="snow", severity=5)


def test_imagenetc_folders(tmp_path):
    for wnid in ("n01440764", "n01443537"):
        d = tmp_path / "ImageNet-C" / "gaussian_noise" / "5" / wnid
        d.mkdir(parents=True)
        Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(d / "a.JPEG")
    ds = load_dataset("imagenetc", "test", root=tmp_path, corruption="gaussian_noise", severity=5)
    assert len(ds) == 2 and ds[0][0].shape == (3, 224, 224) and [ds[i][1] for i in range(2)] == [0, 1]


def test_imagenet100_class_list(tmp_path):
    for wnid in ("n1", "n2", "n3"):
        d = tmp_path / "imagenet" / "val" / wnid
        d.mkdir(parents=True)
        Image.fromarray(np.zeros((300, 260, 3), np.uint8)).save(d / "x.JPEG")
    (tmp_path / "imagenet100.txt").write_text("n3\nn1\n")
    ds = load_dataset("imagenet100", "test", root=tmp_path)
    assert len(ds) == 2 and sorted(ds.targets) == [0, 1] and ds[0][0].shape == (3, 224, 224)


def test_missing_dataset_message(tmp_path):
    with pytest.raises(DatasetMissingError) as e:
        load_dataset("cifar10", "train", root=tmp_path)
    assert "cifar-10-batches-py" in str(e.value) and "ORCHESTRATOR_DATA" in str(e.value)


def test_digits_split_is_fixed_and_rgb():
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert len(tr) + len(te) == 1797 and len(te) == 360
    x, _ = te[0]
    assert x.shape == (3, 32, 32) and 0 <= x.min() and x.max() <= 1 and torch.equal(x[0], x[1])
    assert fingerprint(te) == fingerprint(load_dataset("digits", "test"))


def test_digits_c_all_corruptions_and_severities_valid():
    imgs, _ = _digits_arrays("test")
    few = imgs[:3]
    for name in CORRUPTIONS:
        for sev in range(1, 6):
            out = corrupt_batch(few, name, sev, seed=0)
            assert out.shape == few.shape and out.dtype == np.uint8, (name, sev)
            assert not np.array_equal(out, few) or name == "brightness", (name, sev)
    # deterministic per seed, different across seeds for random corruptions
    a = corrupt_batch(few, "gaussian_noise", 5, seed=1)
    assert np.array_equal(a, corrupt_batch(few, "gaussian_noise", 5, seed=1))
    assert not np.array_equal(a, corrupt_batch(few, "gaussian_noise", 5, seed=2))


def test_digits_c_cached(tmp_path):
    a = load_dataset("digits-c", "test", cache_dir=tmp_path, corruption="contrast", severity=5, seed=0)
    files = list((tmp_path / "digits-c").glob("*.npy"))
    assert len(files) == 1
    b = load_dataset("digits-c", "test", cache_dir=tmp_path, corruption="contrast", severity=5, seed=0)
    assert torch.equal(a.tensors[0], b.tensors[0]) and len(a) == 360
    clean = load_dataset("digits", "test").tensors[0]
    assert (a.tensors[0].std() < clean.std())  # contrast reduces contrast


def test_synthetic_is_seeded():
    a, b = load_dataset("synthetic", "train", seed=3, n=32), load_dataset("synthetic", "train", seed=3, n=32)
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert not torch.equal(a.tensors[0], load_dataset("synthetic", "train", seed=4, n=32).tensors[0])


def test_select_subset_classes_n_and_image_size():
    full = load_dataset("digits", "test")
    sub = load_dataset("digits", "test", subset_classes=[3, 7])
    y = full.tensors[1]
    assert len(sub) == int(((y == 3) | (y == 7)).sum()) and set(sub.tensors[1].tolist()) == {3, 7}
    few = load_dataset("digits", "test", subset_classes=[3, 7], n=10, seed=1)
    assert len(few) == 10 and set(few.tensors[1].tolist()) <= {3, 7}
    assert torch.equal(few.tensors[0], load_dataset("digits", "test", subset_classes=[3, 7], n=10, seed=1).tensors[0])
    # every chosen image is one of the subset's images, unchanged
    rows = sub.tensors[0].flatten(1)
    assert all(any(torch.equal(r, s) for s in rows) for r in few.tensors[0].flatten(1))
    big = load_dataset("digits", "train", n=5, image_size=48)
    assert big.tensors[0].shape == (5, 3, 48, 48) and 0 <= big.tensors[0].min() and big.tensors[0].max() <= 1
    with pytest.raises(ValueError, match="positive"):
        load_dataset("digits", "train", n=0)


def test_select_on_folder_dataset_uses_targets(tmp_path):
    from PIL import Image

    for wnid in ("n01", "n02", "n03"):
        d = tmp_path / "imagenet" / "val" / wnid
        d.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((40, 40, 3), 10 * i, np.uint8)).save(d / f"{i}.JPEG")
    ds = load_dataset("imagenet", "test", root=tmp_path, image_size=32, subset_classes=[0, 2], n=4, seed=0)
    assert len(ds) == 4 and set(ds.targets) <= {0, 2}
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and y in (0, 2)


def test_pixel_corruptions_native_spatial_ones_upsampled():
    from workloads.common.corruptions import UPSAMPLED, _corrupt_fn, corrupt_image

    img = _digits_arrays("test")[0][5]
    package = _corrupt_fn()
    for name in ("gaussian_noise", "glass_blur", "jpeg_compression"):
        # native size: identical to calling the package directly with the same global seed
        np.random.seed(11)
        direct = np.uint8(np.clip(package(img, corruption_name=name, severity=5), 0, 255))
        assert np.array_equal(corrupt_image(img, name, 5, seed=11), direct), name
    assert "zoom_blur" in UPSAMPLED and "gaussian_noise" not in UPSAMPLED
    out = corrupt_image(img, "zoom_blur", 5, seed=0)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_corrupt_or_incomplete_files_are_clear_errors(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    (base / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DatasetMissingError, match="corrupt"):
        load_dataset("cifar10", "test", root=tmp_path)
    with pytest.raises(DatasetMissingError, match="data_batch_1"):
        load_dataset("cifar10", "train", root=tmp_path)
    c = tmp_path / "CIFAR-10-C"
    c.mkdir()
    np.save(c / "fog.npy", np.zeros((7, 32, 32, 3), np.uint8))
    np.save(c / "labels.npy", np.zeros(7, np.int64))
    with pytest.raises(DatasetMissingError, match="severities 1-5 stacked"):
        load_dataset("cifar10c", "test", root=tmp_path, corruption="fog", severity=1)
    (c / "fog.npy").write_bytes(b"\x93NUMPY broken")
    with pytest.raises(DatasetMissingError, match="corrupt"):
        load_dataset("cifar10c", "test", root=tmp_path, corruption="fog", severity=1)


def _write_idx(path, arr: np.ndarray):
    # IDX format: 2 zero bytes, type 0x08 (ubyte), ndim, big-endian int32 dims, raw bytes
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def test_mnist_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    imgs = {p: rng.integers(0, 256, (n, 28, 28)) for p, n in (("train", 5), ("t10k", 3))}
    labels = {"train": np.array([5, 0, 4, 1, 9]), "t10k": np.array([7, 2, 1])}
    for p in ("train", "t10k"):
        _write_idx(raw / f"{p}-images-idx3-ubyte", imgs[p])
        _write_idx(raw / f"{p}-labels-idx1-ubyte", labels[p])
    test = load_dataset("mnist", "test", root=tmp_path)
    x, y = test[1]
    assert len(test) == 3 and x.shape == (1, 28, 28) and int(y) == 2
    assert torch.allclose(x[0], torch.from_numpy(imgs["t10k"][1]).float() / 255)
    assert [int(load_dataset("mnist", "train", root=tmp_path)[i][1]) for i in range(5)] == [5, 0, 4, 1, 9]
