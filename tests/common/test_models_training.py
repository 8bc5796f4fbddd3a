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
    import workloads.common.source_model as sm

    torch.set_num_threads(1)
    real_train = sm.train_classifier

    def counted_train(*args, **kw):  # append one line per actual training run
        with open(os.path.join(cache_dir, "trainings.log"), "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real_train(*args, **kw)

    sm.train_classifier = counted_train
    get_source_model = sm.get_source_model
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
    assert len((tmp_path / "trainings.log").read_text().split()) == 1  # the second process loaded the cache


def test_source_model_options_and_clean_source(tmp_path):
    from workloads.common.source_model import get_source_model

    with pytest.raises(ValueError, match="optimizer"):
        get_source_model("small_cnn", "synthetic", cache_dir=tmp_path, optimizer="lbfgs")
    with pytest.raises(ValueError, match="epochs"):
        get_source_model("small_cnn", "synthetic", cache_dir=tmp_path, epochs=0)
    with pytest.raises(CheckpointError, match="does not exist"):
        get_source_model("small_cnn", "digits-c", cache_dir=tmp_path, checkpoint=tmp_path / "missing.pt")
    # a checkpoint for the corrupted stream's model is loaded into the clean data set's architecture
    src = build_model("small_cnn", 10, width=8)
    torch.save({"state_dict": src.net.state_dict()}, tmp_path / "src.pt")
    m = get_source_model("small_cnn", "digits-c", cache_dir=tmp_path, checkpoint=tmp_path / "src.pt", width=8)
    x = torch.rand(2, 3, 32, 32)
    assert not m.training
    assert torch.allclose(m.net(x), src.net.eval()(x))
