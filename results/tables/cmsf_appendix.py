"""CMSF (dissertation Sec. 2.1, App. A.1): Figs. 2.1, 2.5, A.1 and Tables A.1, A.3-A.9, A.11, A.12.

Table A.4 (cross-modal video, S3D on UCF-101) names no sweep: nothing in this project runs video or optical flow,
so it renders the published numbers alone, every row paper only."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from results.spec import TableSpec, register_table
from results.tables.cmsf import MINI

PERCENTS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)   # workloads.cmsf.curves.CURVE_PERCENTS
SEMI = (" Mini: 10 % of the digits labelled (~144 images); the paper's semi-supervised ablations run on "
        "ImageNet-100.")
TRANSFER = " The ten transfer data sets and their mean are paper only (not part of the data layer)."


def over_training(*keys: str) -> tuple[str, ...]:
    return tuple(f"{k}_at{p}" for k in keys for p in PERCENTS)


def _curves(frame: pd.DataFrame, png: Path, series: tuple[tuple[str, str, str], ...], ylabel: str, title: str,
            twin: tuple[str, str] | None = None) -> None:
    """Metrics read at 10 %, ..., 100 % of training (``<key>_at<pct>``), one line per (key, colour, label), mean
    over the rows of ``frame``; ``twin`` (key, label) goes on a right axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def line(key: str) -> tuple[list[int], list[float]]:
        pts = [(p, float(frame[f"{key}_at{p}_mean"].mean())) for p in PERCENTS if f"{key}_at{p}_mean" in frame]
        pts = [(p, v) for p, v in pts if v == v]
        return [p for p, _ in pts], [v for _, v in pts]

    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    for key, colour, label in series:
        xs, ys = line(key)
        ax.plot(xs, ys, marker="o", color=colour, label=label)
    ax.set_xlabel("training (% of epochs)")
    ax.set_ylabel(ylabel)
    handles, labels = ax.get_legend_handles_labels()
    if twin:
        right = ax.twinx()
        xs, ys = line(twin[0])
        right.plot(xs, ys, ls="--", color="tab:blue", label=twin[1])
        right.set_ylabel(twin[1])
        h2, l2 = right.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize=7, loc="best")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def plot_purity_rank(frame: pd.DataFrame, png: Path) -> None:
    """Fig. 2.5: purity of the top-5 of C (red) and of M (black), of the top-m of M (green), and the median rank m
    of the 5th element of C in M (right axis), over training."""
    _curves(frame, png, (("purity_c", "red", "top-5 of C"), ("purity_m", "black", "top-5 of M"),
                         ("purity_top_m", "green", "top-m of M")), "purity (%)",
            "CMSF Fig. 2.5: purity of constrained samples", twin=("rank5_median", "median rank m"))


def plot_semi_accuracy(frame: pd.DataFrame, png: Path) -> None:
    """Fig. A.1: pseudo-label accuracy on the confident unlabelled samples and the accuracy (purity) of the top-k
    neighbours with and without the pseudo-label constraint, over training; right axis: share of confident samples."""
    _curves(frame, png, (("pseudo_acc", "tab:orange", "pseudo-labels (confident)"),
                         ("purity_c", "red", "top-k with constraint"), ("purity_m", "black", "top-k w/o constraint")),
            "accuracy (%)", "CMSF Fig. A.1: semi-supervised NN / pseudo-label accuracy",
            twin=("pseudo_conf_share", "confident share (%)"))


def plot_accuracy_compute(frame: pd.DataFrame, png: Path) -> None:
    """Fig. 2.1: linear top-1 against training FLOPs of the backbone (Eq. A.1), ours beside the paper's points
    (Table 2.6's top-1 at Table A.11's FLOPs for the methods both print)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from results.render import read_published
    from results.spec import get_table

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    ax = axes[0]
    for _, r in frame.iterrows():
        label = f"{r['method']}" + (f" multi-crop {r['multi_crop']}" if str(r["multi_crop"]) not in ("0", "0.0") else "")
        std = float(r.get("linear_std", 0.0))
        ax.errorbar(r["train_flops_1e18_mean"], r["linear_mean"], yerr=0.0 if std != std else std, fmt="o", capsize=3)
        ax.annotate(label, (r["train_flops_1e18_mean"], r["linear_mean"]), fontsize=7)
    ax.set_xlabel("training FLOPs (x1e18, Eq. A.1)")
    ax.set_ylabel("linear top-1 (%)")
    ax.set_title("ours", fontsize=8)
    paper = read_published(get_table("cmsf-table2.6")).merge(read_published(get_table("cmsf-tableA.11")), on="method")
    ax = axes[1]
    for _, r in paper.iterrows():
        ax.scatter(float(r["train_flops_1e18"]), float(r["linear"]), marker="s", color="0.5")
        ax.annotate(str(r["method"]), (float(r["train_flops_1e18"]), float(r["linear"])), fontsize=7)
    ax.set_xlabel("training FLOPs (x1e18)")
    ax.set_title("paper (Table 2.6 top-1 at Table A.11 FLOPs)", fontsize=8)
    fig.suptitle("CMSF Fig. 2.1: accuracy vs training compute", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


register_table(TableSpec(
    id="cmsf-fig2.1", paper="CMSF", title="CMSF Fig. 2.1: linear top-1 (%) vs training FLOPs of the backbone (Eq. A.1)",
    # the SSL panel only: table2_6's msf row would merge with table2_1's (same keys, other epochs)
    sweeps=("cmsf/table2_1.yaml", "cmsf/table2_1_multicrop.yaml"),
    rows=("method", "multi_crop"), metrics=("linear", "train_flops_1e18", "total_pass_1e8"), fmt="{:.3g}",
    kind="figure", plot=plot_accuracy_compute,
    notes=MINI + " FLOPs at mini: the measured multiply-adds of the small CNN per image x Eq. A.1's passes. The "
    "paper prints no numbers for this figure. Left: our self-supervised runs (Fig. 2.1 left); right: the paper's "
    "semi-supervised points (Table 2.6 top-1 at Table A.11 FLOPs)."))
register_table(TableSpec(
    id="cmsf-fig2.5", paper="CMSF",
    title="CMSF Fig. 2.5: purity of the top-5 of C / of M / of the top-m of M (%) and median rank m, over training",
    sweeps=("cmsf/table2_1.yaml",), rows=("method",), filters={"method": "cmsf_self"},
    metrics=over_training("purity_c", "purity_m", "purity_top_m", "rank5_median"), fmt="{:.1f}", kind="figure",
    plot=plot_purity_rank,
    notes=MINI + " Read at every 10 % of training (6 epochs at mini). The paper prints no numbers for this figure."))
register_table(TableSpec(
    id="cmsf-figA.1", paper="CMSF",
    title="CMSF Fig. A.1: semi-supervised pseudo-label accuracy and top-k accuracy with / without the constraint (%)",
    sweeps=("cmsf/table2_6_semi.yaml",), rows=("method",), filters={"method": "cmsf_semi"},
    metrics=over_training("pseudo_acc", "purity_c", "purity_m", "pseudo_conf_share"), fmt="{:.1f}", kind="figure",
    plot=plot_semi_accuracy,
    notes=MINI + SEMI + " Pseudo-label accuracy counts the confident unlabelled queries only (the authors' "
    "pseudo_cmsf.py). The paper prints no numbers for this figure."))
register_table(TableSpec(
    id="cmsf-tableA.1", paper="CMSF", title="CMSF Table A.1: far neighbours in unconstrained MSF (top-k = 500), 1-NN / 20-NN (%)",
    sweeps=("cmsf/tableA1_far_msf.yaml", "cmsf/tableA1_cmsf_self.yaml"), rows=("method", "topk"),
    metrics=("nn1", "nn20", "linear", "purity_m"), fmt="{:.1f}", published="cmsf-tableA.1.csv",
    notes=MINI + " k = 500 at mini is ~3.5 classes' share of the 1,437-image bank (the paper's 500 of 256k over 1,000 "
    "classes is ~2)."))
register_table(TableSpec(
    id="cmsf-tableA.3", paper="CMSF", title="CMSF Table A.3: MSF vs CMSF_self per backbone, linear top-1 (%)",
    sweeps=("cmsf/tableA3_arch.yaml",), rows=("method",), columns=("arch",), metrics=("linear",), fmt="{:.1f}",
    published="cmsf-tableA.3.csv",
    notes=MINI + " Mini backbones small_cnn < small_resnet < resnet20 stand in for ResNet-18 / -50 / -101; the "
    "resnet101 column is paper only (no ResNet-101 builder in workloads/common/models.py)."))
for _id, _sweep, _key, _what in (
        ("A.5", "tableA5_threshold", "pseudo_threshold", "confidence threshold t of the pseudo-labeller"),
        ("A.6", "tableA6_caching", "pseudo_cache", "offline vs online caching for pseudo-labeller training"),
        ("A.7", "tableA7_classifier", "pseudo_classifier", "pseudo-label classifier")):
    register_table(TableSpec(
        id=f"cmsf-table{_id}", paper="CMSF", title=f"CMSF Table {_id}: CMSF_semi, {_what}; 1-NN / 20-NN / linear (%)",
        sweeps=(f"cmsf/{_sweep}.yaml",),
        rows=(_key,), metrics=("nn1", "nn20", "linear", "pseudo_acc", "pseudo_conf_share"), fmt="{:.1f}",
        published=f"cmsf-table{_id}.csv", headline="linear", notes=MINI + SEMI))
register_table(TableSpec(
    id="cmsf-tableA.8", paper="CMSF", title="CMSF Table A.8: linear-layer training vs full fine-tuning, 10 % labels, top-1 (%)",
    sweeps=("cmsf/tableA8_finetune.yaml",), rows=("method",), metrics=("linear_10pct", "finetune_10pct"),
    fmt="{:.1f}", published="cmsf-tableA.8.csv",
    notes=MINI + SEMI + " Fine-tuning: backbone + 2-layer MLP on the labelled images, lr 0.005, 20 epochs, cosine "
    "(the text's step at epoch 15: docs/FIDELITY.md)."))
register_table(TableSpec(
    id="cmsf-tableA.9", paper="CMSF",
    title="CMSF Table A.9: supervised CMSF top-all / top-1000 / top-10 on fine / coarse labels, linear top-1 (%) on fine labels",
    sweeps=("cmsf/table2_5_coarse.yaml", "cmsf/tableA9_top1000.yaml"), rows=("method", "coarse", "top_all", "topk"),
    metrics=("linear",), fmt="{:.1f}", published="cmsf-tableA.9.csv",
    notes=MINI + " Coarse digits: 5 groups of look-alike digits; top-1000's mini analogue is topk 200 (the same share of "
    "a super-class), so its mini row and the paper's do not share keys. Paper scale: the shipped WordNet map "
    "(92 super-classes, the paper's 93 is unreleased). Xent / SupCon: paper only."))
register_table(TableSpec(
    id="cmsf-tableA.11", paper="CMSF", title="CMSF Table A.11: training passes and FLOPs of the backbone (Eq. A.1)",
    sweeps=("cmsf/tableA11_compute.yaml",), rows=("method",),
    metrics=("crops_fwd", "crops_bwd", "batch", "minibatch", "iters_per_epoch", "train_epochs", "total_pass_1e8",
             "train_flops_1e18"), fmt="{:.3g}", published="cmsf-tableA.11.csv", headline="train_flops_1e18",
    notes="Computed by Eq. A.1 from each run's configuration (compute_only: nothing is trained). Paper scale: "
    "ImageNet's 5,004 iterations per epoch and the text's 3.9 GFLOPs per ResNet-50 pass reproduce the MSF / CMSF_semi "
    "rows (7.7e8 passes, 4e18 FLOPs); mini: digits' iterations at batch 64, 200 epochs, measured multiply-adds of the "
    "small CNN. Rows of other systems and the labelled columns are paper only."))
register_table(TableSpec(
    id="cmsf-tableA.12", paper="CMSF",
    title="CMSF Table A.12: noisy supervised setting (ImageNet-100), transfer and linear top-1 (%)",
    sweeps=("cmsf/fig2_6_noise.yaml",), rows=("method", "top_all", "label_noise"), metrics=("linear",), fmt="{:.1f}",
    published="cmsf-tableA.12.csv", notes=MINI + TRANSFER + " Xent / SupCon rows: paper only."))


register_table(TableSpec(
    id="cmsf-tableA.4", paper="CMSF",
    title="CMSF Table A.4: cross-modal constraint (RGB / optical flow), S3D on UCF-101, R@1 and linear top-1",
    sweeps=(), rows=("method",), metrics=("r1", "linear"), fmt="{:.1f}", published="cmsf-tableA.4.csv",
    notes="Paper only at every scale: the video experiment (S3D on UCF-101 with TV-L1 optical flow, InfoNCE / "
          "CoCLR / MSF / CMSF stages) is outside this project's workloads, which are image models; no video data "
          "ships with the installed packages."))
