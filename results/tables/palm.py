"""PALM (Maharana et al.): Tables 1-8, Fig. 2 (LR importance over depth; also an artifact of every PALM run), Fig. 3."""
from results.plots import line_plot
from results.spec import TableSpec, register_table
from workloads.common.corruptions import CORRUPTIONS
from workloads.palm.importance_profile import DEPTH_BINS, FIG2_TASKS

PER_TASK = tuple(f"error_{c}" for c in CORRUPTIONS) + ("mean_error",)

for n, name, sweep, quick in ((1, "CIFAR-10-C (WRN-28-10)", "palm/table1.yaml", False),
                              (2, "CIFAR-100-C (ResNeXt-29)", "palm/table2.yaml", False),
                              (3, "ImageNet-C (ResNet-50)", "palm/table3.yaml", False)):
    register_table(TableSpec(
        id=f"palm-table{n}", paper="PALM", title=f"PALM Table {n}: CTTA error (%) on {name}, severity 5",
        sweeps=(sweep,), rows=("method",), metrics=PER_TASK, fmt="{:.1f}", published=f"palm-table{n}.csv",
        quickstart=quick, notes="mini scale: digits-c with a small CNN source model trained here. EcoTTA follows "
        "Lily-Le/EcoTTA (no official code), AdaContrast the PALM repo's copy; DSS is paper only (no public code)."))

register_table(TableSpec(
    id="palm-quickstart", paper="PALM", quickstart=True,
    title="PALM headline: CTTA error (%) of Source, BN-1, TENT, LAW, surgical and PALM, one seed (Table 1 analogue)",
    sweeps=("palm/quickstart.yaml",), rows=("method",), metrics=PER_TASK, fmt="{:.1f}", published="palm-table1.csv",
    notes="mini scale: digits-c with a small CNN source model trained here; CoTTA and 3 seeds: palm-table1."))
register_table(TableSpec(
    id="palm-table4", paper="PALM", title="PALM Table 4: GTTA mean error (%) over severities 1→5→1",
    sweeps=("palm/table4_gtta.yaml",), rows=("dataset",), columns=("method",), metrics=("mean_error",),
    fmt="{:.1f}", published="palm-table4.csv"))
register_table(TableSpec(
    id="palm-table5", paper="PALM", title="PALM Table 5: average % of adapted parameters per task",
    sweeps=("palm/table1.yaml", "palm/table2.yaml", "palm/table3.yaml"), rows=("dataset", "method"),
    metrics=("adapted_pct", "selected_pct"), fmt="{:.2f}", published="palm-table5.csv", headline="adapted_pct",
    notes="adapted: LR > 0 in a batch's update; selected: in tensors with Z ≤ η that batch (they differ for "
          "official-reading PALM only, whose once-selected tensors keep their last LR)."))
register_table(TableSpec(
    id="palm-readings", paper="PALM",
    title="PALM readings (ours): CTTA mean error (%) and % adapted / selected parameters, official code vs paper text",
    sweeps=("palm/table1.yaml", "palm/table1_paper.yaml"), rows=("method", "reading"),
    metrics=("mean_error", "adapted_pct", "selected_pct"), fmt="{:.2f}",
    notes="reading=official: what the authors' code computes; reading=paper: the text (docs/FIDELITY.md (palm))."))
register_table(TableSpec(
    id="palm-table6", paper="PALM", title="PALM Table 6: CTTA mean error (%) with adaptive LR optimizers vs PALM",
    sweeps=("palm/table6_optimizers.yaml",), rows=("dataset",), columns=("optimizer",), metrics=("mean_error",),
    fmt="{:.1f}", published="palm-table6.csv"))
register_table(TableSpec(
    id="palm-table7", paper="PALM", title="PALM Table 7: layer importance from pseudo-labels vs KL to uniform",
    sweeps=("palm/table7_pseudo_labels.yaml",), rows=("dataset",), columns=("importance_from",),
    metrics=("mean_error",), fmt="{:.1f}", published="palm-table7.csv"))
register_table(TableSpec(
    id="palm-table8", paper="PALM", title="PALM Table 8: mean error (%) vs consistency weight λ",
    sweeps=("palm/table8_lambda.yaml",), rows=("dataset",), columns=("lam",), metrics=("mean_error",),
    fmt="{:.1f}", published="palm-table8.csv"))
register_table(TableSpec(
    id="palm-fig3a", paper="PALM", title="PALM Fig. 3a: mean error (%) vs smoothing factor α",
    sweeps=("palm/fig3a_alpha.yaml",), rows=("dataset", "alpha"), metrics=("mean_error",), fmt="{:.1f}",
    kind="figure", plot=line_plot("alpha", "mean_error", "dataset", xlabel="α", ylabel="mean error (%)")))
register_table(TableSpec(
    id="palm-fig3b", paper="PALM", title="PALM Fig. 3b: mean error (%) vs temperature T",
    sweeps=("palm/fig3b_temperature.yaml",), rows=("dataset", "temperature"), metrics=("mean_error",),
    fmt="{:.1f}", kind="figure",
    plot=line_plot("temperature", "mean_error", "dataset", xlabel="T", ylabel="mean error (%)", logx=True)))
register_table(TableSpec(
    id="palm-eta", paper="PALM", title="PALM η ablation (ours): mean error (%) and % adapted parameters vs η",
    sweeps=("palm/eta.yaml",), rows=("dataset", "eta"), metrics=("mean_error", "adapted_pct"), fmt="{:.2f}"))
register_table(TableSpec(
    id="palm-search", paper="PALM", title="PALM Optuna search over α, T, η (best trials)",
    sweeps=("palm/search.yaml",), rows=("alpha", "temperature", "eta"), metrics=("mean_error",), fmt="{:.2f}"))


FIG2_METRICS = tuple(f"importance_{t}_d{k}" for t in FIG2_TASKS for k in range(DEPTH_BINS))


def _importance_plot(frame, png) -> None:
    """Fig. 2: one panel per task, task-mean LR importance against depth bin, one line per data set (model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(FIG2_TASKS), figsize=(5 * len(FIG2_TASKS), 3.2), squeeze=False)
    for ax, task in zip(axes[0], FIG2_TASKS):
        for _, row in frame.iterrows():
            ys = [row.get(f"importance_{task}_d{k}_mean") for k in range(DEPTH_BINS)]
            ax.plot(range(DEPTH_BINS), ys, marker="o", label=str(row["dataset"]))
        ax.set_title(task)
        ax.set_xlabel("depth bin (input → output)")
        ax.set_ylabel("mean LR importance i")
        ax.legend(fontsize=8)
    fig.suptitle("PALM Fig. 2: LR importance across layers", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


register_table(TableSpec(
    id="palm-fig2", paper="PALM", title="PALM Fig. 2: LR importance i (Eq. 7) averaged over a task, across network depth",
    sweeps=("palm/fig2_importance.yaml",), rows=("dataset",), metrics=FIG2_METRICS, fmt="{:.3f}", kind="figure",
    plot=_importance_plot, headline="importance_glass_blur_d0",
    notes=f"Layers (PALM's adapted tensors, input → output) are cut into {DEPTH_BINS} equal depth bins: the three "
          "networks differ in depth. The figure prints no numbers, so there is no published column. mini scale: "
          "the small CNN source model on digits-c; paper: WRN-28-10 / ResNeXt-29 / ResNet-50 on CIFAR-10-C / "
          "CIFAR-100-C / ImageNet-C."))
