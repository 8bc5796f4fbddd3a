"""TTS (Leroux et al., test-time specialization of dynamic neural networks): Table 1, Fig. 4 and the
learning-rate / stream-length sensitivity of the specialization."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from results.spec import TableSpec, register_table

THRESHOLD_TAGS = ("t50", "t60", "t70", "t80", "t90")
SETS, WHEN = ("subset", "other"), ("before", "after")
MINI = ("mini scale: digits (32 px) with a 4-column RevCol trained here (backbone + last exit end to end, early "
        "heads on the frozen backbone); latency on this machine's CPU at batch 1, not the Jetson Orin.")


def plot_fig4(frame: pd.DataFrame, out_png: Path) -> None:
    """One panel per subset: accuracy against mean latency over the thresholds, subset (green) and other
    classes (red), before (solid) and after (dotted) specialization, as the paper's Fig. 4."""
    from workloads.tts.plots import save_panels

    panels = {}
    for _, row in frame.iterrows():
        curves = {}
        for which in SETS:
            for when in WHEN:
                xs = [row.get(f"{which}_{when}_latency_ms_{t}_mean") for t in THRESHOLD_TAGS]
                ys = [row.get(f"{which}_{when}_accuracy_{t}_mean") for t in THRESHOLD_TAGS]
                pts = [(x, y) for x, y in zip(xs, ys) if pd.notna(x) and pd.notna(y)]
                if pts:
                    curves[(which, when)] = ([p[0] for p in pts], [p[1] for p in pts])
        panels[str(row["subset"])] = curves
    if not panels:
        panels["no runs"] = {}
    save_panels(panels, Path(out_png))


register_table(TableSpec(
    id="tts-table1", paper="TTS",
    title="TTS Table 1: latency (ms, mean ± std over images, batch 1), top-1 accuracy (%) and GFLOPs of fixed "
          "exits, uniform thresholds and the baseline RevCol",
    sweeps=("tts/table1.yaml",), rows=("policy",),
    metrics=("latency_ms", "latency_std_ms", "accuracy", "gflops"), fmt="{:.3g}",
    published="tts-table1.csv", quickstart=True, notes=MINI))

register_table(TableSpec(
    id="tts-fig4", paper="TTS",
    title="TTS Fig. 4: latency-accuracy trade-off of a class subset's held-out images and of all other classes, "
          "before and after test-time specialization (thresholds 0.5-0.9)",
    sweeps=("tts/fig4.yaml",), rows=("subset",),
    metrics=tuple(f"{w}_{when}_{m}_{t}" for w in SETS for when in WHEN for m in ("accuracy", "latency_ms")
                  for t in THRESHOLD_TAGS)
    + ("subset_acc_gain_at_matched_gflops", "other_acc_gain_at_matched_gflops", "subset_acc_gain_at_matched_latency_ms",
       "other_acc_gain_at_matched_latency_ms", "update_step_ms", "inference_worst_ms", "stream_images",
       "held_out_images"),
    fmt="{:.3g}", kind="figure", plot=plot_fig4,
    notes=MINI + " Stream: the images the baseline's last exit predicts as a subset class (its mistakes included; "
          "mini: from the test split, the rest held out; paper: the unlabeled ImageNet test set)."
          " The paper gives Fig. 4 as curves only; its text quotes, for snakes, 74 % subset accuracy at "
          "38 ms before vs 27 ms after specialization (69 % vs 74 % at 27 ms), and an update step of about 1 ms."))

register_table(TableSpec(
    id="tts-lr-stream", paper="TTS",
    title="TTS specialization sensitivity: SGD learning rate × stream images per class (accuracy gain in points "
          "at matched GFLOPs; GFLOPs change at threshold 0.9, %)",
    sweeps=("tts/lr_stream.yaml",), rows=("lr", "n_stream_per_class"),
    metrics=("subset_acc_gain_at_matched_gflops", "other_acc_gain_at_matched_gflops", "subset_gflops_change_pct_t90",
             "other_gflops_change_pct_t90"), fmt="{:.3g}",
    notes=MINI + " Not a table of the paper (it fixes lr 1e-4 and 100 images per class)."))
