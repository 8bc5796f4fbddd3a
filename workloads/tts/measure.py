"""Measurements of Table 1 and Fig. 4: accuracy and exit histogram of a policy, GFLOPs per exit, and
per-image latency at batch size 1 (CUDA-synchronised)."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from workloads.common.flops import count_flops
from workloads.common.training import make_loader
from workloads.tts.compiled import ExitRunner, PlainRunner
from workloads.tts.early_exit import max_softmax, select_exit


@torch.no_grad()
def exit_logits(model: nn.Module, dataset: Dataset, *, device: torch.device, batch_size: int = 256
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Logits of every exit for every image (on CPU) and the labels: one batched pass, from which any
    threshold policy's decisions follow exactly (``policy_outcome``)."""
    model.eval().to(device)
    per_exit: list[list[torch.Tensor]] = [[] for _ in range(model.num_exits)]
    labels = []
    for x, y in make_loader(dataset, batch_size):
        for j, lg in enumerate(model.forward_exits(x.to(device))):
            per_exit[j].append(lg.float().cpu())
        labels.append(torch.as_tensor(y))
    return [torch.cat(p) for p in per_exit], torch.cat(labels)


@torch.no_grad()
def last_exit_predictions(model: nn.Module, dataset: Dataset, *, device: torch.device, batch_size: int = 256
                          ) -> torch.Tensor:
    """Class the baseline (all columns, last exit) predicts for every image, on CPU: how the paper picks the
    specialization stream without labels (Sec. 4.2)."""
    model.eval().to(device)
    return torch.cat([model(x.to(device)).argmax(1).cpu() for x, _ in make_loader(dataset, batch_size)])


def policy_outcome(logits: Sequence[torch.Tensor], labels: torch.Tensor, thresholds: torch.Tensor) -> dict:
    """Selected exits, predictions, accuracy (%) and exit histogram (fractions) of a threshold policy."""
    conf = torch.stack([max_softmax(lg) for lg in logits], dim=1)
    exits = select_exit(conf, thresholds)
    stacked = torch.stack(list(logits), dim=0)  # (N, B, C)
    preds = stacked[exits, torch.arange(len(labels))].argmax(dim=1)
    hist = torch.bincount(exits, minlength=len(logits)).double() / max(1, len(labels))
    return {"exits": exits, "preds": preds, "accuracy": 100.0 * (preds == labels).double().mean().item(),
            "exit_fractions": hist.tolist()}


class _UpToExit(nn.Module):
    """Columns 0..k with heads 0..k: the work of an image that leaves at exit ``k`` (earlier heads included)."""

    def __init__(self, model: nn.Module, k: int):
        super().__init__()
        self.model, self.k = model, k

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        tops = self.model.column_tops(x, upto=self.k)
        return [self.model.cls_blocks[j](t) for j, t in enumerate(tops)]


def exit_gflops(model: nn.Module, image_shape: tuple[int, int, int], device: torch.device | str = "cpu"
                ) -> tuple[list[float], float]:
    """GFLOPs (multiply-adds, as papers print them) of one image leaving at each exit, and of the plain
    baseline model (all columns, last head only)."""
    x = torch.zeros(1, *image_shape, device=device)
    per_exit = [count_flops(_UpToExit(model, k), x) / 2e9 for k in range(model.num_exits)]
    return per_exit, count_flops(model, x) / 2e9


def _sync(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


@torch.no_grad()
def per_image_latency_ms(fn: Callable[[torch.Tensor], object], images: Sequence[torch.Tensor], *,
                         device: torch.device, warmup: int = 10) -> list[float]:
    """Wall time (ms) of ``fn(image[None])`` for each image, one at a time, synchronising CUDA."""
    sync = _sync(device)
    imgs = [im.to(device)[None] for im in images]
    for i in range(min(warmup, len(imgs))):
        fn(imgs[i])
    sync()
    times = []
    for im in imgs:
        t0 = time.perf_counter()
        fn(im)
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def adaptive_latency_ms(model: nn.Module, images: Sequence[torch.Tensor], thresholds: torch.Tensor, *,
                        device: torch.device, warmup: int = 10, compile: str = "none", lookahead: int = 0
                        ) -> list[float]:
    """Per-image latency of the truly adaptive model (later columns skipped) at batch size 1, run eagerly or
    captured/compiled (``compile``: none | graph | inductor; the warm-up passes include the capture), launching
    or replaying the next column ahead with ``lookahead=1`` (``compiled.ExitRunner``)."""
    model.eval()
    return per_image_latency_ms(ExitRunner(model, thresholds, compile=compile, lookahead=lookahead), images,
                                device=device,
                                warmup=max(warmup, 1) if compile != "none" else warmup)


def baseline_latency_ms(model: nn.Module, images: Sequence[torch.Tensor], *, device: torch.device,
                        warmup: int = 10, compile: str = "none") -> list[float]:
    """Per-image latency of the plain model (no intermediate heads), the paper's "Baseline" row, in the same
    ``compile`` mode as the adaptive one."""
    model.eval()
    return per_image_latency_ms(PlainRunner(model, compile=compile), images, device=device,
                                warmup=max(warmup, 1) if compile != "none" else warmup)


def latency_stats(times_ms: Sequence[float]) -> dict[str, float]:
    """Mean ± std (as Table 1 prints), median and the 10th/90th percentiles of per-image latencies."""
    t = sorted(times_ms)
    q = lambda p: t[min(len(t) - 1, int(round(p * (len(t) - 1))))]  # noqa: E731
    return {"latency_ms": statistics.fmean(t), "latency_std_ms": statistics.pstdev(t) if len(t) > 1 else 0.0,
            "latency_median_ms": statistics.median(t), "latency_p10_ms": q(0.1), "latency_p90_ms": q(0.9)}


def timing_images(dataset: Dataset, count: int, seed: int) -> list[torch.Tensor]:
    """A seeded sample of ``count`` images (all when ``count`` is 0 or exceeds the set)."""
    n = len(dataset)
    idx = range(n) if count <= 0 or count >= n else torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:count].tolist()
    return [dataset[i][0] for i in idx]


def mean_gflops(exits: torch.Tensor, per_exit: Sequence[float]) -> float:
    """Average GFLOPs per image of a policy from its selected exits."""
    return float(torch.tensor(per_exit, dtype=torch.float64)[exits].mean()) if len(exits) else 0.0
