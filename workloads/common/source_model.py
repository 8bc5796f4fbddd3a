"""Source models: trained once per configuration and cached (file-locked), or loaded from a checkpoint."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn as nn
from filelock import FileLock

from workloads.common.datasets import dataset_info, load_dataset
from workloads.common.models import build_model, load_checkpoint
from workloads.common.training import evaluate, train_classifier


CLEAN_SOURCE = {"digits-c": "digits", "cifar10c": "cifar10", "cifar100c": "cifar100", "imagenetc": "imagenet"}


def source_model_key(**config) -> str:
    blob = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def get_source_model(arch: str, dataset: str, *, num_classes: int | None = None, cache_dir: str | Path,
                     device: torch.device | str = "cpu", seed: int = 0, epochs: int = 10, lr: float = 0.05,
                     batch_size: int = 128, optimizer: str = "sgd", weight_decay: float = 5e-4, augment: bool = True,
                     checkpoint: str | Path | None = None, root: str | Path | None = None, n_train: int | None = None,
                     **build_kw) -> nn.Module:
    """The classifier the test-time methods start from.

    With ``checkpoint`` (paper scale) the weights are loaded from that local file. Otherwise the model is
    trained on ``load_dataset(dataset, "train")`` and cached under ``cache_dir/source_models/<hash>.pt``;
    a file lock makes parallel trials asking for the same model train it once and share it.
    """
    # a test-time stream's source model is trained on the clean training set of that stream
    dataset = CLEAN_SOURCE.get(dataset, dataset)
    if optimizer not in ("sgd", "adamw"):
        raise ValueError(f"source-model optimizer must be 'sgd' or 'adamw', got {optimizer!r}")
    if checkpoint is None and epochs < 1:
        raise ValueError(f"a source model without a checkpoint is trained here and needs epochs >= 1, got {epochs}; "
                         f"pass checkpoint=<path> to load trained weights instead")
    info = dataset_info(dataset)
    num_classes = num_classes or info.num_classes
    model = build_model(arch, num_classes, image_size=info.image_size, in_chans=info.channels,
                        mean=info.mean, std=info.std, **build_kw)
    if checkpoint:
        return load_checkpoint(model, checkpoint).to(device).eval()
    key = source_model_key(arch=arch, dataset=dataset, num_classes=num_classes, seed=seed, epochs=epochs, lr=lr,
                           batch_size=batch_size, optimizer=optimizer, weight_decay=weight_decay, augment=augment,
                           n_train=n_train, build=build_kw)
    folder = Path(cache_dir) / "source_models"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{arch}-{dataset}-{key}.pt"
    with FileLock(str(path) + ".lock", timeout=3600):
        if path.is_file():
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.to(device).eval()
        torch.manual_seed(seed)
        model = build_model(arch, num_classes, image_size=info.image_size, in_chans=info.channels,
                            mean=info.mean, std=info.std, **build_kw)
        train = load_dataset(dataset, "train", root=root, seed=seed, n=n_train)
        # The sweep's other trials on this machine wait on this lock, leaving their cores idle, while Ray gives a
        # cpu:1 trial one thread: train on all of them (37 s → 22 s for the mini PALM source model on 2 cores).
        threads = torch.get_num_threads()
        if torch.device(device).type == "cpu":
            torch.set_num_threads(max(threads, len(os.sched_getaffinity(0))))
        try:
            train_classifier(model, train, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                             weight_decay=weight_decay, device=device, seed=seed, augment=augment)
        finally:
            torch.set_num_threads(threads)
        tmp = path.with_suffix(".tmp")
        torch.save(model.state_dict(), tmp)
        tmp.replace(path)
        meta = evaluate(model, load_dataset(dataset, "test", root=root, seed=seed, n=n_train), device=device)
        path.with_suffix(".json").write_text(json.dumps({"arch": arch, "dataset": dataset, **meta}, indent=1))
    return model.to(device).eval()
