"""The specialization stream picked by the baseline's predictions (TTS Sec. 4.2), on tiny ImageNet-layout
folders: imagenet/val/<wnid>/*.JPEG (labelled, the evaluation split) and imagenet/test/*.JPEG (unlabeled)."""
import pytest
import torch
from PIL import Image

from workloads.common.datasets import DatasetMissingError, load_dataset
from workloads.tts.data import predicted_pick, split_for_subset

SHARKS = [2, 3, 4]  # the paper's "sharks" subset: ImageNet classes 2-4
STEP = 40  # an image's grey level / STEP is the class the fake baseline predicts


def _jpeg(path, cls):
    Image.new("RGB", (16, 16), (cls * STEP,) * 3).save(path, quality=95)


@pytest.fixture
def imagenet_root(tmp_path):
    """Six classes; val holds two images per class that the baseline gets right, plus two mistakes: one class-5
    image it predicts as 3 (a shark: streamed although it is no shark) and one class-2 image it predicts as 0."""
    val = tmp_path / "imagenet" / "val"
    for k in range(6):
        (val / f"n0000000{k}").mkdir(parents=True)
        for j in range(2):
            _jpeg(val / f"n0000000{k}" / f"right_{j}.JPEG", k)
    _jpeg(val / "n00000005" / "mistake_as_3.JPEG", 3)
    _jpeg(val / "n00000002" / "mistake_as_0.JPEG", 0)
    test = tmp_path / "imagenet" / "test"
    test.mkdir()
    for i, k in enumerate([0, 2, 2, 2, 3, 5, 4, 1, 3, 2]):
        _jpeg(test / f"ILSVRC2012_test_{i:08d}.JPEG", k)
    return tmp_path


def fake_baseline(ds):
    """Stands in for the last exit: predicts the class encoded in the grey level (never reads a label)."""
    return torch.tensor([round(ds[i][0].mean().item() * 255 / STEP) for i in range(len(ds))])


def test_predicted_pick_caps_each_predicted_class_and_keeps_mistakes():
    preds = torch.tensor([2, 9, 3, 2, 2, 4, 3, 0, 2])
    pick = predicted_pick(preds, SHARKS, per_class=2, seed=0)
    assert sorted(preds[pick].tolist()) == [2, 2, 3, 3, 4]  # at most 2 per predicted class; class 4 has one
    assert set(pick) <= {0, 2, 3, 4, 5, 6, 8}
    assert pick == predicted_pick(preds, SHARKS, per_class=2, seed=0)  # seeded
    assert len(set(predicted_pick(preds, SHARKS, per_class=10, seed=3))) == 7  # everything predicted 2-4


def test_unlabeled_stream_from_the_imagenet_test_folder(imagenet_root):
    val = load_dataset("imagenet", "test", root=imagenet_root)
    split = split_for_subset("imagenet", SHARKS, test=val, stream_split="unlabeled", per_class=2, root=imagenet_root,
                             n_train=0, seed=0, predict=fake_baseline)
    streamed = [split.stream[i] for i in range(len(split.stream))]
    assert all(y == -1 for _, y in streamed)  # no label exists, none is used
    assert sorted(fake_baseline(split.stream).tolist()) == [2, 2, 3, 3, 4]  # 4 images predicted 2, capped at 2
    assert sorted(val.targets[i] for i in split.held_out.indices) == [2, 2, 2, 3, 3, 4, 4]  # all val sharks
    assert len(split.other) == len(val) - 7


def test_validation_stream_holds_out_the_rest_and_includes_the_baselines_mistakes(imagenet_root):
    val = load_dataset("imagenet", "test", root=imagenet_root)
    split = split_for_subset("imagenet", SHARKS, test=val, stream_split="test", per_class=10, root=imagenet_root,
                             n_train=0, seed=0, predict=fake_baseline)
    preds = fake_baseline(val)
    stream = set(split.stream.indices)
    assert stream == {i for i, p in enumerate(preds.tolist()) if p in SHARKS}
    mistake = next(i for i, (p, _) in enumerate(val.samples) if p.endswith("mistake_as_3.JPEG"))
    assert mistake in stream and val.targets[mistake] == 5  # streamed by its prediction, not its label
    missed = next(i for i, (p, _) in enumerate(val.samples) if p.endswith("mistake_as_0.JPEG"))
    assert split.held_out.indices == [missed]  # the one shark the baseline missed is held out
    assert stream.isdisjoint(split.other.indices) and stream.isdisjoint(split.held_out.indices)
    assert len(split.other) == len(val) - len(stream) - 1


def test_stream_errors_name_the_fix(imagenet_root, tmp_path):
    val = load_dataset("imagenet", "test", root=imagenet_root)
    with pytest.raises(ValueError, match="stream_pick: predicted"):
        split_for_subset("imagenet", SHARKS, test=val, stream_split="unlabeled", per_class=2, root=imagenet_root,
                         n_train=0, seed=0, stream_pick="labelled")
    with pytest.raises(DatasetMissingError, match="imagenet/test"):
        split_for_subset("imagenet", SHARKS, test=val, stream_split="unlabeled", per_class=2, root=tmp_path / "none",
                         n_train=0, seed=0, predict=fake_baseline)
    with pytest.raises(ValueError, match="stream_split: test"):
        split_for_subset("digits", [0, 6], test=val, stream_split="unlabeled", per_class=2, root=imagenet_root,
                         n_train=0, seed=0, predict=fake_baseline)
