"""The ``palm`` workload: a source model adapted online on a CTTA/GTTA stream by one of seven methods."""
from __future__ import annotations

import json
import time
from pathlib import Path
from collections import defaultdict

import torch

from orchestrator.context import Context
from orchestrator.registry import ConfigError
from workloads.common.datasets import dataset_info
from workloads.common.models import build_model
from workloads.common.source_model import get_source_model
from workloads.common.streams import ctta_stream
from workloads.palm.baselines import build_adacontrast, build_ecotta
from workloads.palm.adapters import BNAdapt, CoTTA, Law, Palm, Source, Surgical, Tent
from workloads.palm.checkpoints import download_hint, load_source_checkpoint
from workloads.palm.config import PalmConfig, resolve
from workloads.palm.importance_profile import profile_metrics
from workloads.palm.plots import plot_importance
from workloads.palm.requirements import CLEAN, source_arch, source_checkpoint



def build_adapter(cfg: PalmConfig, model, image_size: int, ctx: Context | None = None, seed: int = 0):
    """The adapter for ``cfg.method`` with ``cfg``'s resolved (per-dataset) hyperparameters."""
    if cfg.method == "source":
        return Source(model)
    if cfg.method == "bn_adapt":
        return BNAdapt(model)
    if cfg.method == "tent":
        return Tent(model, cfg.tent_lr, cfg.tent_optimizer)
    if cfg.method == "surgical":
        return Surgical(model, cfg.surgical_lr, image_size, cfg.lam)
    if cfg.method == "cotta":
        return CoTTA(model, cfg.cotta_lr, image_size, cfg.cotta_ema, cfg.cotta_restore, cfg.cotta_threshold,
                     cfg.cotta_augmentations, optimizer=cfg.cotta_optimizer, symmetric=cfg.cotta_loss == "symmetric",
                     reading=cfg.reading)
    if cfg.method == "law":
        return Law(model, cfg.law_lr, image_size, cfg.law_tau, cfg.lam, reading=cfg.reading)
    if cfg.method == "adacontrast":
        return build_adacontrast(cfg, model, seed)
    if cfg.method == "ecotta":
        if ctx is None:
            raise ValueError("ecotta warms its meta networks up on the source training set: pass ctx")
        return build_ecotta(cfg, model, clean=CLEAN[cfg.dataset], root=ctx.data_root, cache_dir=ctx.cache_dir,
                            device=ctx.device)
    return Palm(model, kappa=cfg.kappa, alpha=cfg.alpha, temperature=cfg.temperature, eta=cfg.eta, lam=cfg.lam,
                image_size=image_size, importance_from=cfg.importance_from, optimizer=cfg.optimizer,
                reading=cfg.reading, weight_decay=cfg.weight_decay)


def source_model(cfg: PalmConfig, ctx: Context):
    clean = CLEAN[cfg.dataset]
    arch = source_arch(cfg)
    path = source_checkpoint(cfg, ctx.data_root, ctx.scale)  # paper scale: always a file (the rule in requirements)
    checkpoint = str(path) if path is not None else ""
    if checkpoint and not Path(checkpoint).is_file():
        raise ConfigError(
            f"palm: source checkpoint {checkpoint} not found. The {cfg.dataset} source model is {arch}: "
            f"{download_hint(arch, Path(checkpoint))} (or give --set checkpoint=PATH). Nothing is downloaded and "
            f"no paper-scale source model is trained here.")
    if checkpoint:
        info = dataset_info(clean)
        model = build_model(arch, info.num_classes, image_size=info.image_size, in_chans=info.channels,
                            mean=info.mean, std=info.std)
        return load_source_checkpoint(model, arch, checkpoint).to(ctx.device).eval()
    # The source model is the same for every trial of a sweep (seed 0): only the adaptation varies by seed.
    return get_source_model(arch, clean, cache_dir=ctx.cache_dir, device=ctx.device, seed=0,
                            epochs=cfg.source_epochs, lr=0.05, root=ctx.data_root,
                            n_train=512 if clean == "synthetic" else None)


# Declared (config, metrics) in workloads/palm/__init__.py; imported only when a trial runs.
def run(cfg: PalmConfig, ctx: Context) -> None:
    cfg = resolve(cfg)
    info = dataset_info(cfg.dataset)
    model = source_model(cfg, ctx)
    adapter = build_adapter(cfg, model, info.image_size, ctx, ctx.seed)
    stream = ctta_stream(cfg.dataset, root=ctx.data_root, cache_dir=ctx.cache_dir, batch_size=cfg.batch_size,
                         seed=ctx.seed, severity=cfg.severity, gradual=cfg.protocol == "gtta",
                         max_batches_per_task=cfg.max_batches_per_task or None, n_per_task=cfg.n_per_task or None)
    wrong, seen = defaultdict(int), defaultdict(int)
    frac, sel = defaultdict(list), defaultdict(list)
    importance_per_task: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    t0, step = time.time(), 0
    for batch in stream:
        x, y = batch.x.to(ctx.device), batch.y.to(ctx.device)
        logits = adapter.step(x)
        err = (logits.argmax(1) != y).sum().item()
        wrong[batch.task] += err
        seen[batch.task] += len(y)
        frac[batch.task].append(adapter.adapted_fraction)
        sel[batch.task].append(adapter.selected_fraction)
        for name, value in getattr(adapter, "mean_importance", {}).items():
            importance_per_task[batch.task][name].append(value)
        ctx.report(step=step, error=100.0 * err / len(y), adapted_fraction=100.0 * adapter.adapted_fraction,
                   selected_fraction=100.0 * adapter.selected_fraction, severity=float(batch.severity))
        ctx.progress(step + 1, 0, batch.task)
        step += 1
    if not seen:
        raise RuntimeError(f"the {cfg.dataset} stream produced no batch; check n_per_task/max_batches_per_task")
    errors = {task: 100.0 * wrong[task] / seen[task] for task in seen}
    summary = {f"error_{task}": e for task, e in errors.items()}
    summary["mean_error"] = sum(errors.values()) / len(errors)
    # Table 5: average % of parameters adapted per task. adapted = LR > 0 in this batch's update; selected = in
    # tensors with Z ≤ η this batch (the same for every method but official-reading PALM, whose once-selected
    # tensors keep their last LR). The reading itself is the run's ``reading`` param in MLflow.
    for name, series in (("adapted_pct", frac), ("selected_pct", sel)):
        per_task = {task: 100.0 * sum(v) / len(v) for task, v in series.items()}
        summary.update({f"{name}_{task}": value for task, value in per_task.items()})
        summary[name] = sum(per_task.values()) / len(per_task)
    summary["reading_is_paper"] = float(cfg.reading == "paper")
    summary["seconds_per_batch"] = (time.time() - t0) / step
    table = {task: {n: sum(v) / len(v) for n, v in layers.items()} for task, layers in importance_per_task.items()}
    summary.update(profile_metrics(table))  # Fig. 2: task-mean importance over depth bins
    ctx.summary(**summary)
    if importance_per_task:
        path = ctx.work_dir / "lr_importance_per_task.json"
        path.write_text(json.dumps(table, indent=1))
        ctx.artifact(path)
        png = ctx.work_dir / "lr_importance.png"
        plot_importance(table, png, title=f"PALM LR importance ({cfg.dataset})")
        ctx.artifact(png)
