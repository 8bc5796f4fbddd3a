"""Builders of the PALM tables' AdaContrast and EcoTTA baselines from a resolved PalmConfig.

EcoTTA's meta networks are warmed up on the clean source training set before the stream (as the method requires);
the warmed-up weights are cached per (source model, partition, warm-up settings) under ``cache_dir/ecotta_warmup``
so the trials of a sweep share one warm-up.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn as nn
from filelock import FileLock

from workloads.common.datasets import dataset_info, load_dataset
from workloads.palm.adacontrast import AdaContrast
from workloads.palm.config import PalmConfig
from workloads.palm.ecotta import EcoTTA, EcoTTANet, warm_up


def build_adacontrast(cfg: PalmConfig, model: nn.Module, seed: int) -> AdaContrast:
    g = torch.Generator().manual_seed(seed)
    return AdaContrast(model, lr=cfg.adacontrast_lr, queue_size=cfg.adacontrast_queue,
                       neighbors=cfg.adacontrast_neighbors, generator=g)


def _fingerprint(model: nn.Module) -> str:
    """A short hash of the source weights, so a cached warm-up is never reused for another source model."""
    h = hashlib.sha1()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().double().sum().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


def build_ecotta(cfg: PalmConfig, model: nn.Module, *, clean: str, root, cache_dir: Path,
                 device: torch.device) -> EcoTTA:
    info = dataset_info(clean)
    net = EcoTTANet(model, cfg.ecotta_parts, info.image_size, info.channels)
    settings = dict(parts=cfg.ecotta_parts, epochs=cfg.ecotta_warmup_epochs, lr=cfg.ecotta_warmup_lr,
                    batch=cfg.ecotta_warmup_batch, n=cfg.ecotta_warmup_samples, source=_fingerprint(model))
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(cache_dir) / "ecotta_warmup"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{clean}-{key}.pt"
    with FileLock(str(path) + ".lock", timeout=7200):
        if path.is_file():
            net.parts.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        else:
            n = cfg.ecotta_warmup_samples or (512 if clean == "synthetic" else None)
            data = load_dataset(clean, "train", root=root, cache_dir=cache_dir, seed=0, n=n)
            warm_up(net, data, epochs=cfg.ecotta_warmup_epochs, batch_size=cfg.ecotta_warmup_batch,
                    lr=cfg.ecotta_warmup_lr, seed=0, device=device)
            tmp = path.with_suffix(".tmp")
            torch.save(net.parts.state_dict(), tmp)
            tmp.replace(path)
    return EcoTTA(net, lr=cfg.ecotta_lr, lam=cfg.ecotta_lambda)
