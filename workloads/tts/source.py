"""The early-exit model a trial starts from: trained here once per configuration and cached, or loaded.

Two stages, as in the paper (Sec. 4.1): (1) backbone + last exit, trained end to end (here from scratch,
through the reversible backward) or loaded from the official RevCol checkpoint; (2) the heads of the
first N-1 columns, trained with cross-entropy on all classes with the backbone frozen.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock
from torch.utils.data import Dataset

from workloads.common.datasets import dataset_info
from workloads.common.training import train_classifier
from workloads.tts.checkpoint import load_revcol_weights, read_revcol_state
from workloads.tts.heads import train_early_heads
from workloads.tts.revcol import EarlyExitRevCol, build_revcol

CACHE_VERSION = 1  # part of the cache key: bump when the training recipe changes


@dataclass(frozen=True)
class ModelRecipe:
    dataset: str
    arch: str
    columns: int
    n_train: int
    source_epochs: int
    source_lr: float
    source_batch_size: int
    head_epochs: int
    head_lr: float
    seed: int
    reversible: bool = True
    checkpoint: str = ""
    heads_checkpoint: str = ""

    def key(self) -> str:
        blob = dict(self.__dict__, version=CACHE_VERSION)
        for name in ("checkpoint", "heads_checkpoint"):  # a replaced weights file must not hit a stale cache entry
            p = Path(blob[name]) if blob[name] else None
            if p is not None and p.is_file():
                st = p.stat()
                blob[name] = f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        return hashlib.sha1(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def build_for(recipe: ModelRecipe) -> EarlyExitRevCol:
    info = dataset_info(recipe.dataset)
    return build_revcol(recipe.arch, info.num_classes, in_chans=info.channels, mean=info.mean, std=info.std,
                        columns=recipe.columns, reversible=recipe.reversible)


def get_tts_model(recipe: ModelRecipe, train: Dataset, *, cache_dir: Path, device: torch.device,
                  test: Dataset | None = None) -> tuple[EarlyExitRevCol, dict]:
    """The two-stage model of ``recipe`` on ``device`` in eval mode, and its record (per-exit test accuracy).

    Cached under ``cache_dir/tts_models``; a file lock makes parallel trials build it once."""
    if recipe.heads_checkpoint:
        model = build_for(recipe)
        load_revcol_weights(model, recipe.heads_checkpoint, early_heads=True)
        return model.to(device).eval(), {"source": recipe.heads_checkpoint}
    folder = Path(cache_dir) / "tts_models"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{recipe.arch}-{recipe.dataset}-{recipe.key()}.pt"
    meta_path = path.with_suffix(".json")
    with FileLock(str(path) + ".lock", timeout=3600):
        model = build_for(recipe)
        if path.is_file():
            model.load_state_dict(read_revcol_state(path))
            meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
            return model.to(device).eval(), meta
        meta = _train(model, recipe, train, device)
        if test is not None:
            meta.update(_exit_accuracies(model, test, device))
        tmp = path.with_suffix(".tmp")
        torch.save(model.state_dict(), tmp)
        tmp.replace(path)
        meta_path.write_text(json.dumps(meta, indent=1))
    return model.to(device).eval(), meta


def _train(model: EarlyExitRevCol, recipe: ModelRecipe, train: Dataset, device: torch.device) -> dict:
    torch.manual_seed(recipe.seed)
    if recipe.checkpoint:
        load_revcol_weights(model, recipe.checkpoint, early_heads=False)
    else:
        if recipe.source_epochs < 1:
            raise ValueError(
                f"no `checkpoint` was given, so the backbone is trained here and needs source_epochs >= 1 (got "
                f"{recipe.source_epochs}); or pass checkpoint=<local RevCol weights>")
        # the frozen-backbone heads are trained in stage 2: keep stage 1 to backbone + last exit
        for head in model.cls_blocks[:-1]:
            head.requires_grad_(False)
        train_classifier(model, train, epochs=recipe.source_epochs, batch_size=recipe.source_batch_size,
                         lr=recipe.source_lr, optimizer="adamw", weight_decay=0.05, device=device,
                         seed=recipe.seed, augment=True)
        model.requires_grad_(True)
    model.to(device)
    meta = train_early_heads(model, train, epochs=recipe.head_epochs, lr=recipe.head_lr, batch_size=128,
                             device=device, seed=recipe.seed)
    return dict(meta, recipe=recipe.__dict__)


def _exit_accuracies(model: EarlyExitRevCol, test: Dataset, device: torch.device) -> dict[str, float]:
    from workloads.tts.measure import exit_logits

    logits, labels = exit_logits(model, test, device=device)
    return {f"exit{j}_test_accuracy": 100.0 * (lg.argmax(1) == labels).float().mean().item()
            for j, lg in enumerate(logits)}


