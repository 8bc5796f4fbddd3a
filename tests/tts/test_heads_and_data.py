"""Early-head training on a frozen backbone, and the stream / held-out / other split of a class subset."""
import torch
from torch.utils.data import TensorDataset

from workloads.tts.data import labels_of, per_class_pick, split_for_subset
from workloads.tts.heads import train_early_heads


def _blobs(n_per_class=20, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(n_per_class)
    base = torch.rand(classes, 3, 1, 1, generator=g)
    x = (base[y] + 0.05 * torch.randn(len(y), 3, 32, 32, generator=g)).clamp(0, 1)
    return TensorDataset(x, y)


def test_head_training_moves_only_early_heads_and_learns(micro_model):
    ds = _blobs()
    with torch.no_grad():
        acc_before = (micro_model.forward_exits(ds.tensors[0])[0].argmax(1) == ds.tensors[1]).float().mean().item()
    frozen = {n: p.detach().clone() for n, p in micro_model.named_parameters() if not n.startswith(
        ("cls_blocks.0.", "cls_blocks.1.", "cls_blocks.2."))}
    accs = train_early_heads(micro_model, ds, epochs=30, lr=5e-2, batch_size=32, device=torch.device("cpu"), seed=0)
    for n, p in micro_model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    assert set(accs) == {"head0_train_accuracy", "head1_train_accuracy", "head2_train_accuracy"}
    with torch.no_grad():
        acc_after = (micro_model.forward_exits(ds.tensors[0])[0].argmax(1) == ds.tensors[1]).float().mean().item()
    assert acc_after > max(acc_before, 0.9)
    assert abs(accs["head0_train_accuracy"] - acc_after * 100) < 1e-4


def test_test_split_stream_is_disjoint_from_held_out_and_other():
    ds = _blobs(n_per_class=10)
    split = split_for_subset("synthetic", [1, 3], test=ds, stream_split="test", per_class=4, root=None, n_train=0,
                             seed=0, stream_pick="labelled")
    stream, held, other = (set(s.indices) for s in (split.stream, split.held_out, split.other))
    assert len(stream) == 8 and len(held) == 12 and len(other) == 20
    assert not (stream & held) and not (stream & other) and not (held & other)
    assert sorted(set(labels_of(split.stream))) == [1, 3] and sorted(set(labels_of(split.other))) == [0, 2]


def test_predicted_test_split_stream_excludes_streamed_images_from_both_evaluation_sets():
    ds = _blobs(n_per_class=10)
    labels = torch.tensor(labels_of(ds))
    preds = labels.clone()
    preds[labels == 0] = 1  # the baseline calls every class-0 image a 1: they join the stream
    missed = int(torch.nonzero(labels == 3)[0])
    preds[missed] = 2  # and misses one 3: it is never streamed, so it is held out
    split = split_for_subset("synthetic", [1, 3], test=ds, stream_split="test", per_class=30, root=None, n_train=0,
                             seed=0, predict=lambda d: preds)
    stream, held, other = (set(s.indices) for s in (split.stream, split.held_out, split.other))
    assert stream == set(torch.nonzero((preds == 1) | (preds == 3)).flatten().tolist())
    assert held == {missed}
    assert other == set(torch.nonzero(labels == 2).flatten().tolist())  # class 0 went to the stream


def test_per_class_pick_balances_classes():
    ds = _blobs(n_per_class=6)
    pick = per_class_pick(ds, [0, 2], 3, seed=1)
    labels = labels_of(pick)
    assert sorted(labels) == [0, 0, 0, 2, 2, 2]
    assert labels != sorted(labels)  # streamed in a (seeded) shuffled order, not class by class
