"""The ``tts`` workload: Table 1 (exits and thresholds) and Fig. 4 (test-time specialization per class subset)."""
from __future__ import annotations

import dataclasses
import math
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset

from orchestrator.context import Context
from orchestrator.registry import ConfigError
from workloads.common.datasets import dataset_info
from workloads.tts.config import TTSConfig
from workloads.tts.curves import matched_cost_gain
from workloads.tts.data import load_split, split_for_subset, subset_classes
from workloads.tts.compiled import ExitRunner, check_compile_mode
from workloads.tts.early_exit import NEVER, uniform_thresholds
from workloads.tts.measure import (adaptive_latency_ms, baseline_latency_ms, exit_gflops, exit_logits,
                                   last_exit_predictions, latency_stats, mean_gflops, policy_outcome, timing_images)
from workloads.tts.plots import save_panels
from workloads.tts.policy import parse_policy
from workloads.tts.requirements import REVCOL_RELEASE, backbone_checkpoint, heads_checkpoint
from workloads.tts.source import ModelRecipe, get_tts_model
from workloads.tts.specialization import Specializer


def check_config(cfg: TTSConfig) -> None:
    """Reject impossible combinations before any work starts."""
    if cfg.dataset == "imagenet" and not (cfg.checkpoint or cfg.heads_checkpoint) and cfg.arch == "revcol_tiny":
        raise ValueError("dataset imagenet with revcol_tiny expects the pretrained RevCol-T weights: set checkpoint="
                         "<local RevCol-T ImageNet-1k .pth> (the paper never trains the backbone; nothing is downloaded)")
    if cfg.experiment == "specialize":
        subset_classes(cfg.dataset, cfg.subset)
        if not cfg.thresholds or any(t < 0.0 for t in cfg.thresholds):
            raise ValueError(f"thresholds {cfg.thresholds} must be a non-empty list of non-negative softmax scores "
                             f"(0 always takes exit 0; above 1 always the last exit)")
        if cfg.n_stream_per_class < 1 or cfg.batch_size < 1:
            raise ValueError(f"n_stream_per_class ({cfg.n_stream_per_class}) and batch_size ({cfg.batch_size}) must be >= 1")
        if cfg.lr <= 0:
            raise ValueError(f"lr must be positive, got {cfg.lr}")
    if cfg.latency_images < 0 or cfg.latency_warmup < 0:
        raise ValueError("latency_images and latency_warmup must be >= 0")
    if cfg.compile != "none" and cfg.latency_warmup < 1:
        raise ValueError(f"compile={cfg.compile} captures/compiles during the warm-up passes: set latency_warmup >= 1")


def with_local_weights(cfg: TTSConfig, ctx: Context) -> TTSConfig:
    """``cfg`` with its weight files resolved by the path rule (workloads.tts.requirements); a named file that is not
    there is an error before any work, and at paper scale the backbone is always a file, never trained here."""
    checkpoint = backbone_checkpoint(cfg, ctx.data_root, ctx.scale)
    heads = heads_checkpoint(cfg, ctx.data_root)
    for field, path in (("checkpoint", checkpoint), ("heads_checkpoint", heads)):
        if path is not None and not path.is_file():
            raise ConfigError(
                f"tts: {field} {path} not found. The {cfg.arch} weights come from {REVCOL_RELEASE}; put the file "
                f"there or set {field}: to where it is (relative paths are under $ORCHESTRATOR_DATA). Nothing is "
                f"downloaded, and no paper-scale backbone is trained here.")
    return dataclasses.replace(cfg, checkpoint=str(checkpoint) if checkpoint else "",
                               heads_checkpoint=str(heads) if heads else "")


def _tag(t: float) -> str:
    return f"t{round(t * 100):d}"


# Declared (config, metrics) in workloads/tts/__init__.py; imported only when a trial runs.
def run(cfg: TTSConfig, ctx: Context) -> None:
    cfg = with_local_weights(cfg, ctx)
    check_config(cfg)
    info = dataset_info(cfg.dataset)
    train = load_split(cfg.dataset, "train", n=cfg.n_train, root=ctx.data_root, seed=ctx.seed)
    test = load_split(cfg.dataset, "test", n=cfg.n_test, root=ctx.data_root, seed=ctx.seed)
    # MLflow params: the split sizes and timed images need the data (the runners recorded cfg.resolved already)
    ctx.record_config(cfg.resolved(ctx).recorded_sizes(len(train), len(test)))
    recipe = ModelRecipe(cfg.dataset, cfg.arch, cfg.columns, cfg.n_train, cfg.source_epochs, cfg.source_lr,
                         cfg.source_batch_size, cfg.head_epochs, cfg.head_lr, ctx.seed, cfg.reversible,
                         cfg.checkpoint, cfg.heads_checkpoint)
    ctx.progress(0, 3, "model")
    check_compile_mode(cfg.compile, torch.device(ctx.device))
    model, meta = get_tts_model(recipe, train, cache_dir=ctx.cache_dir, device=ctx.device, test=test)
    ctx.summary(**{k: v for k, v in meta.items() if k.endswith("_test_accuracy")})
    shape = (info.channels, info.image_size, info.image_size)
    per_exit_gflops, baseline_gflops = exit_gflops(model, shape, ctx.device)
    ctx.progress(1, 3, "measure")
    if cfg.experiment == "exits":
        _run_exits(cfg, ctx, model, test, per_exit_gflops, baseline_gflops)
    else:
        _run_specialize(cfg, ctx, model, test, per_exit_gflops)
    ctx.progress(3, 3, "done")


def _run_exits(cfg, ctx, model, test, per_exit_gflops, baseline_gflops) -> None:
    """One row of Table 1: accuracy, mean ± std latency at batch 1, GFLOPs and exit histogram of a policy."""
    thresholds = parse_policy(cfg.policy, model.num_exits)
    logits, labels = exit_logits(model, test, device=ctx.device)
    images = timing_images(test, cfg.latency_images, ctx.seed)
    if thresholds is None:
        acc = 100.0 * (logits[-1].argmax(1) == labels).double().mean().item()
        times = baseline_latency_ms(model, images, device=ctx.device, warmup=cfg.latency_warmup, compile=cfg.compile)
        ctx.summary(accuracy=acc, gflops=baseline_gflops, **latency_stats(times), exit_mean=model.num_exits - 1)
        return
    out = policy_outcome(logits, labels, thresholds)
    times = adaptive_latency_ms(model, images, thresholds, device=ctx.device, warmup=cfg.latency_warmup,
                                compile=cfg.compile, lookahead=cfg.lookahead)
    ctx.summary(accuracy=out["accuracy"], gflops=mean_gflops(out["exits"], per_exit_gflops),
                exit_mean=out["exits"].double().mean().item(), **latency_stats(times),
                **{f"exit_frac_{j}": f for j, f in enumerate(out["exit_fractions"])})


def _curve(cfg, ctx, model, data: Dataset, per_exit_gflops, images) -> dict[float, dict[str, float]]:
    """Accuracy, GFLOPs and latency of the adaptive model at each threshold of the Fig. 4 curves."""
    logits, labels = exit_logits(model, data, device=ctx.device)
    points = {}
    for t in cfg.thresholds:
        thr = uniform_thresholds(t, model.num_exits)
        out = policy_outcome(logits, labels, thr)
        lat = latency_stats(adaptive_latency_ms(model, images, thr, device=ctx.device, warmup=cfg.latency_warmup,
                                                compile=cfg.compile, lookahead=cfg.lookahead))
        points[t] = {"accuracy": out["accuracy"], "gflops": mean_gflops(out["exits"], per_exit_gflops),
                     "latency_ms": lat["latency_ms"], "exit_mean": out["exits"].double().mean().item()}
    return points


def _update_cost(model, image: torch.Tensor, lr: float, device, repeats: int = 30, compile: str = "none",
                 lookahead: int = 0) -> dict[str, float]:
    """Worst case of Sec. 4.2: no early exit fires, so every early head takes a gradient step. Median
    time of inference alone and of inference + update; the update is run on a copy of the heads' state
    that is restored afterwards, so it leaves the measured model unchanged."""
    never = torch.full((model.num_exits,), NEVER)
    state = {k: v.clone() for k, v in model.cls_blocks.state_dict().items()}
    x = image.to(device)[None]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    spec = Specializer(model, never, lr=lr, compile=compile, lookahead=lookahead)
    inference = ExitRunner(model, never, compile=compile, lookahead=lookahead)
    infer, step = [], []
    for i in range(repeats + 3):
        sync()
        t0 = time.perf_counter()
        inference(x)
        sync()
        t1 = time.perf_counter()
        spec.step(x)
        sync()
        t2 = time.perf_counter()
        if i >= 3:  # the first passes warm up allocators and kernels
            infer.append((t1 - t0) * 1e3)
            step.append((t2 - t1) * 1e3)
    model.cls_blocks.load_state_dict(state)
    inf_ms, step_ms = statistics.median(infer), statistics.median(step)
    return {"inference_worst_ms": inf_ms, "update_step_ms": step_ms - inf_ms,
            "update_overhead_pct": 100.0 * (step_ms - inf_ms) / inf_ms}


def _run_specialize(cfg, ctx, model, test, per_exit_gflops) -> None:
    """One panel of Fig. 4: curves of the subset's held-out images and of all other classes, before and
    after specializing on the subset's stream (Sec. 4.2)."""
    classes = subset_classes(cfg.dataset, cfg.subset)
    split = split_for_subset(cfg.dataset, classes, test=test, stream_split=cfg.stream_split,
                             per_class=cfg.n_stream_per_class, root=ctx.data_root, n_train=cfg.n_train, seed=ctx.seed,
                             stream_pick=cfg.stream_pick,
                             predict=lambda ds: last_exit_predictions(model, ds, device=ctx.device))
    sets = {"subset": split.held_out, "other": split.other}
    images = {k: timing_images(v, cfg.latency_images, ctx.seed) for k, v in sets.items()}
    curves = {("before", k): _curve(cfg, ctx, model, v, per_exit_gflops, images[k]) for k, v in sets.items()}
    ctx.summary(**_update_cost(model, images["other"][0], cfg.lr, ctx.device, compile=cfg.compile,
                               lookahead=cfg.lookahead))

    spec = Specializer(model, uniform_thresholds(cfg.adapt_threshold, model.num_exits), lr=cfg.lr,
                       momentum=cfg.momentum, compile=cfg.compile, lookahead=cfg.lookahead)
    loader = DataLoader(split.stream, batch_size=cfg.batch_size, shuffle=False, num_workers=0)
    n_seen, exit_sum, correct, labelled = 0, 0.0, 0, 0
    for step, (x, y) in enumerate(loader):
        trace = spec.step(x.to(ctx.device))
        n_seen += len(y)
        exit_sum += float(trace.host_exits.sum())  # host copy: no device read, but for compile=graph at batch > 1 (one)
        known = y >= 0  # unlabeled stream images carry -1
        correct += (trace.logits.argmax(1).cpu()[known] == y[known]).sum().item()  # monitoring only: labels never reach the update
        labelled += int(known.sum())
        if step % 20 == 0 or n_seen == len(split.stream):
            acc = {"stream_accuracy": 100.0 * correct / labelled} if labelled else {}
            ctx.report(step, stream_exit_mean=exit_sum / n_seen, **acc)
    ctx.progress(2, 3, "after")
    curves.update({("after", k): _curve(cfg, ctx, model, v, per_exit_gflops, images[k]) for k, v in sets.items()})

    metrics: dict[str, float] = {"stream_images": n_seen, "updates": spec.updates, "held_out_images": len(split.held_out),
                                 "stream_exit_mean": exit_sum / max(1, n_seen)}
    for (when, which), pts in curves.items():
        for t, p in pts.items():
            for name, value in p.items():
                metrics[f"{which}_{when}_{name}_{_tag(t)}"] = value
    for which in sets:
        for cost in ("gflops", "latency_ms"):
            b, a = curves[("before", which)], curves[("after", which)]
            gain = matched_cost_gain([b[t][cost] for t in b], [b[t]["accuracy"] for t in b],
                                     [a[t][cost] for t in a], [a[t]["accuracy"] for t in a])
            if not math.isnan(gain):
                metrics[f"{which}_acc_gain_at_matched_{cost}"] = gain
        metrics[f"{which}_gflops_change_pct_{_tag(max(cfg.thresholds))}"] = _pct_change(
            curves[("before", which)][max(cfg.thresholds)]["gflops"], curves[("after", which)][max(cfg.thresholds)]["gflops"])
    ctx.summary(**metrics)
    panel = {(which, when): ([p["latency_ms"] for p in pts.values()], [p["accuracy"] for p in pts.values()])
             for (when, which), pts in curves.items()}
    png = save_panels({f"{cfg.subset} ({len(classes)} classes)": panel}, ctx.work_dir / f"tts_fig4_{cfg.subset}.png")
    ctx.artifact(png)


def _pct_change(before: float, after: float) -> float:
    return 100.0 * (after - before) / before if before else 0.0
