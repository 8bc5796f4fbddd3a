"""Checkpoint loading layouts, the training loop and the file-locked source-model cache."""
from __future__ import annotations

import multiprocessing as mp
import os

import pytest
import torch

from workloads.common.datasets import load_dataset
from workloads.common.models import CheckpointError, build_model, load_checkpoint
from workloads.common.training import evaluate, train_classifier


def test_checkpoint_layouts(tmp_path):
    src = build_model("small_cnn", 10)
    state = src.net.state_dict()
    for i, obj in enumerate([state, {"state_dict": state}, {"model": {f"module.{k}": v for k, v in state.items()}}]):
        p = tmp_path / f"c{i}.pt"
        torch.save(obj, p)
        dst = load_checkpoint(build_model("small_cnn", 10), p)
        x = torch.rand(2, 3, 32, 32)
        src.eval(), dst.eval()
        assert torch.allclose(src(x), dst(x))
    bad = tmp_path / "bad.pt"
    torch.save(build_model("small_cnn", 5).net.state_dict(), bad)
    with pytest.raises(CheckpointError, match="shapes do not match|does not fit"):
        load_checkpoint(build_model("small_cnn", 10), bad)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(build_model("small_cnn", 10), corrupt)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(build_model("small_cnn", 10), tmp_path / "nope.pt")


def test_train_classifier_learns_synthetic():
    torch.manual_seed(0)
    m = build_model("small_cnn", 10, width=8)
    before = evaluate(m, load_dataset("synthetic", "test", n=128))["top1_error"]
    train_classifier(m, load_dataset("synthetic", "train", n=256), epochs=8, batch_size=32, lr=0.1)
    after = evaluate(m, load_dataset("synthetic", "test", n=128))["top1_error"]
    assert after < before and after < 30


def _worker(cache_dir, out_q):
    from workloads.common.source_model import get_source_model

    torch.set_num_threads(1)
    m = get_source_model("small_cnn", "synthetic", cache_dir=cache_dir, epochs=1, n_train=64, width=8)
    out_q.put(sum(float(p.sum()) for p in m.parameters()))


def test_source_model_trained_once_by_parallel_processes(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    sums = [q.get(timeout=5) for _ in procs]
    assert all(p.exitcode == 0 for p in procs)
    weights = list((tmp_path / "source_models").glob("*.pt"))
    assert len(weights) == 1 and len(list((tmp_path / "source_models").glob("*.json"))) == 1
    assert sums[0] == pytest.approx(sums[1])
