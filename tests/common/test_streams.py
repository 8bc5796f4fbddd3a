"""CTTA/GTTA stream order and determinism; class-subset split."""
from __future__ import annotations

import os
import subprocess
import sys

import torch

from workloads.common.corruptions import CORRUPTIONS
from workloads.common.streams import GRADUAL_SEVERITIES, TTS_IMAGENET_SUBSETS, class_subset_split, ctta_stream


def _tasks(stream):
    seen = []
    for b in stream:
        if not seen or seen[-1] != (b.task, b.severity):
            seen.append((b.task, b.severity))
    return seen


def test_ctta_order_is_cotta_at_severity_5():
    batches = list(ctta_stream("synthetic", batch_size=8, seed=0, max_batches_per_task=1, n_per_task=16))
    assert [(b.task, b.severity) for b in batches] == [(c, 5) for c in CORRUPTIONS]
    assert all(b.x.shape == (8, 3, 32, 32) and b.y.dtype == torch.long for b in batches)


def test_gradual_schedule_per_task():
    two = CORRUPTIONS[:2]
    seen = _tasks(ctta_stream("synthetic", batch_size=16, seed=0, corruptions=two, gradual=True,
                              max_batches_per_task=1, n_per_task=16))
    assert seen == [(c, s) for c in two for s in (1, 2, 3, 4, 5, 4, 3, 2, 1)]
    assert GRADUAL_SEVERITIES == (1, 2, 3, 4, 5, 4, 3, 2, 1)


_DIGEST = ("import torch; from workloads.common.streams import ctta_stream;"
           "bs=list(ctta_stream('synthetic', batch_size=8, seed=3, corruptions=['fog'], n_per_task=16));"
           "print(float(sum(b.x.double().sum() for b in bs)), [b.y.tolist() for b in bs])")


def test_synthetic_stream_is_identical_across_processes():
    # different PYTHONHASHSEEDs: the stream must not depend on Python's salted str hash
    outs = []
    for salt in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": salt, "OMP_NUM_THREADS": "1"}
        outs.append(subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True,
                                   check=True).stdout)
    assert outs[0] == outs[1] and outs[0].strip()


def test_digits_c_stream_matches_loader_and_is_seeded(tmp_path):
    kw = dict(batch_size=32, corruptions=["gaussian_noise"], max_batches_per_task=2, cache_dir=tmp_path)
    a = list(ctta_stream("digits", seed=0, **kw))
    b = list(ctta_stream("digits-c", seed=0, **kw))
    assert len(a) == 2 and all(torch.equal(x.x, y.x) and torch.equal(x.y, y.y) for x, y in zip(a, b))
    assert a[0].x.min() >= 0 and a[0].x.max() <= 1


def test_class_subset_split_partitions_labels():
    y = torch.arange(60) % 6
    ds = torch.utils.data.TensorDataset(torch.zeros(60, 1), y)
    stream, held, other = class_subset_split(ds, [1, 4], n_stream_per_class=3, seed=0)
    s_lab = [int(y[i]) for i in stream.indices]
    assert sorted(s_lab) == [1, 1, 1, 4, 4, 4]
    assert sorted(int(y[i]) for i in held.indices) == [1] * 7 + [4] * 7
    assert all(int(y[i]) not in (1, 4) for i in other.indices) and len(other) == 40
    assert not set(stream.indices) & set(held.indices)


def test_tts_subsets_have_paper_class_counts():
    counts = {k: len(set(v)) for k, v in TTS_IMAGENET_SUBSETS.items()}
    assert counts == {"snakes": 17, "fruits_vegetables": 21, "vehicles": 42, "insects": 27, "dogs": 118, "sharks": 3}
    assert all(0 <= c < 1000 for v in TTS_IMAGENET_SUBSETS.values() for c in v)
