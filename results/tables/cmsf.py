"""CMSF (dissertation Sec. 2.1, App. A.1): Tables 2.1-2.6, A.2, A.10, Fig. 2.6 and the memory-size study (the other
App. A.1 tables and Figs. 2.1, 2.5, A.1 are in ``cmsf_appendix.py``)."""
from pathlib import Path

import pandas as pd

from results.spec import TableSpec, register_table

KNN_LINEAR = ("nn1", "nn20", "linear")
MINI = "mini scale: scikit-learn digits, small CNN backbone, memory bank = training set (1,437 images)."

def plot_noise_curve(frame: pd.DataFrame, png: Path) -> None:
    """Fig. 2.6: linear accuracy (mean ± std over seeds) against the label-noise rate, top-k vs top-all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for top_all, grp in frame.groupby(frame["top_all"].astype(str)):
        grp = grp.assign(x=pd.to_numeric(grp["label_noise"])).sort_values("x")
        label = "CMSF_sup top-all" if top_all == "True" else "CMSF_sup top-k"
        ax.errorbar(grp["x"], grp["linear_mean"], yerr=grp["linear_std"].fillna(0), marker="o", label=label)
    ax.set_xlabel("label noise rate")
    ax.set_ylabel("linear top-1 (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


register_table(TableSpec(
    id="cmsf-table2.1", paper="CMSF", title="CMSF Table 2.1: CMSF_self vs MSF vs BYOL, 1-NN / 20-NN / linear top-1 (%)",
    sweeps=("cmsf/table2_1.yaml", "cmsf/table2_1_multicrop.yaml"), rows=("method", "multi_crop"),
    metrics=KNN_LINEAR + ("purity_c", "purity_m", "rank5_median", "nn_share"), fmt="{:.1f}",
    published="cmsf-table2.1.csv", quickstart=True,
    notes=MINI + " multi_crop 4: four extra crops of 96/224 of the image side (3 px at mini) for the online encoder."))
register_table(TableSpec(
    id="cmsf-table2.3", paper="CMSF", title="CMSF Table 2.3: effect of k' (top-k' in M'), k = 5; rank of the 5th NN of C in M",
    sweeps=("cmsf/table2_3_kprime.yaml",), rows=("k_prime",), metrics=KNN_LINEAR + ("rank5_median", "purity_c"),
    fmt="{:.1f}", notes=MINI + " The dissertation prints Table 2.3 as an image without a transcribable text layer."))
register_table(TableSpec(
    id="cmsf-table2.5", paper="CMSF", title="CMSF Table 2.5: supervised CMSF top-k vs top-all on fine / coarse labels, linear top-1 (%) on fine labels",
    sweeps=("cmsf/table2_5_coarse.yaml",), rows=("coarse", "top_all"), metrics=("linear",), fmt="{:.1f}",
    published="cmsf-table2.5.csv", notes=MINI + " Coarse digits: 5 groups of look-alike digits."))
register_table(TableSpec(
    id="cmsf-fig2.6", paper="CMSF", title="CMSF Fig. 2.6: linear top-1 (%) vs label-noise rate, top-k vs top-all",
    sweeps=("cmsf/fig2_6_noise.yaml",), rows=("top_all", "label_noise"), metrics=("linear",), fmt="{:.1f}",
    kind="figure", plot=lambda frame, png: plot_noise_curve(frame, png)))
register_table(TableSpec(
    id="cmsf-table2.6", paper="CMSF", title="CMSF Table 2.6: semi-supervised CMSF with 10 % labels vs MSF, linear top-1 (%)",
    sweeps=("cmsf/table2_6_semi.yaml",), rows=("method",), metrics=("linear", "nn1", "nn20"), fmt="{:.1f}",
    published="cmsf-table2.6.csv", notes=MINI))
register_table(TableSpec(
    id="cmsf-tableA.2", paper="CMSF", title="CMSF Table A.2: effect of k = k' in CMSF_self, 1-NN / 20-NN (%)",
    sweeps=("cmsf/tableA2_topk.yaml",), rows=("topk",), metrics=("nn1", "nn20"), fmt="{:.1f}",
    published="cmsf-tableA.2.csv", notes=MINI))
register_table(TableSpec(
    id="cmsf-memory-size", paper="CMSF", title="CMSF memory-bank size study (Table 2.1 compares MSF with 256k/1M banks)",
    sweeps=("cmsf/tableA_memory.yaml",), rows=("memory_size",), columns=("method",), metrics=("nn1",), fmt="{:.1f}",
    notes=MINI))
register_table(TableSpec(
    id="cmsf-table2.2", paper="CMSF",
    title="CMSF Table 2.2: linear top-1 (%) of the self- and fully supervised settings (the paper adds transfer to ten data sets)",
    sweeps=("cmsf/table2_2_methods.yaml", "cmsf/table2_5_coarse.yaml"), rows=("method", "top_all"), metrics=("linear",),
    filters={"coarse": False}, fmt="{:.1f}", published="cmsf-table2.2.csv",
    notes=MINI + " CMSF_sup top-all comes from the Table 2.5 sweep (fine labels). Transfer columns: paper only."))
register_table(TableSpec(
    id="cmsf-table2.4", paper="CMSF", title="CMSF Table 2.4: linear top-1 (%) with 1 % and 10 % of the labels",
    sweeps=("cmsf/table2_1.yaml",), rows=("method",), metrics=("linear_1pct", "linear_10pct"), fmt="{:.1f}",
    published="cmsf-table2.4.csv",
    notes=MINI + " Class-balanced subsets: 1 % of digits is one image per class, 10 % is ~14 per class."))
register_table(TableSpec(
    id="cmsf-tableA.10", paper="CMSF",
    title="CMSF Table A.10(c, d): supervised CMSF, top-k / memory size / top-all / target in S_i, linear top-1 (%)",
    sweeps=("cmsf/tableA10_sup_ablation.yaml", "cmsf/tableA10_top_all_target.yaml"),
    rows=("topk", "memory_size", "top_all", "include_target"), metrics=("linear", "nn1"), fmt="{:.1f}",
    published="cmsf-tableA.10.csv",
    notes=MINI + " Memory sizes at mini are 256 / 1,024 (the paper's 128k / 512k, ratio 1:4), so mini rows and "
    "paper rows do not share keys; topk = 1 is BYOL-asym."))
