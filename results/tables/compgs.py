"""CompGS (dissertation Sec. 3.1, App. B): Tables 3.1-3.9, B.1, B.2, B.4-B.9, Figs. 3.1, 3.4, 3.5 and B.1.

Every number of ours is measured on the model file as saved and read back (size, PSNR, SSIM, FPS). LPIPS (``lpips``
package, v0.1 AlexNet by default) is reported only when the run's ``lpips_weights`` points to a local backbone checkpoint
(a torchvision AlexNet/VGG16 state dict; nothing is downloaded); without it the LPIPS cells of ours stay "—".
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from results.spec import TableSpec, register_table

MINI = ("mini scale: a ground-truth Gaussian scene (textured sphere on a textured disc, scikit-learn sample photos) "
        "rendered here at 48x48 from 24 ring views, 6 held-out test views; 400 iterations with the 30K schedule scaled "
        "to them (lr_opacity 0.1: opacities must move as far in 75x fewer steps); codebooks x1/64 (4K -> 64 codes); "
        "lambda_reg x250 (the paper's images have ~250x more pixels). Variant rows log the sweep's fields; the "
        "variant's own settings are in workloads/compgs/variants.py. FPS is "
        "the pure-PyTorch CPU rasterizer. mem = file size x 20 / a 59-float 3DGS file of the same Gaussians (the paper's "
        "scale, 3DGS = 20.0).")
QUALITY = ("ssim", "psnr", "lpips")  # lpips: only runs given lpips_weights report it
SIZE = ("memory_mb", "compression", "num_gaussians_k")
# Tables 3.1-3.3 print one column group per benchmark, each the mean over that benchmark's scenes (App. B.5)
BENCHMARK_GROUPS = (" Column groups by the runs' benchmark (mipnerf360/, tandt/ = Tanks&Temples, db/ = Deep Blending; "
                    "workloads/compgs/benchmarks.py): at paper scale each is the mean over that benchmark's scenes as "
                    "in the paper (± is then the spread over scenes and seeds); smoke and mini fill the mipnerf360 "
                    "group with the generated scene, the other groups are paper only there.")


def _codebook_plot(frame: pd.DataFrame, png: Path) -> None:
    """Fig. 3.4: PSNR against the paper codebook size, one line per quantized parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, g in frame.groupby("quantize"):
        col = "color_codes" if name in ("sh", "dc") else "cov_codes"
        g = g.assign(_x=pd.to_numeric(g[col], errors="coerce")).sort_values("_x")
        ax.errorbar(g["_x"], g["psnr_mean"], yerr=g["psnr_std"].fillna(0), marker="o", capsize=3, label=str(name))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("codebook size (paper; x codebook_scale at small scales)")
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=8, title="quantized")
    ax.set_title("CompGS Fig. 3.4: effect of codebook size", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


register_table(TableSpec(
    id="compgs-table3.1", paper="CompGS",
    title="CompGS Table 3.1: 3DGS vs CompGS (SSIM, PSNR, FPS, file MB, training minutes)",
    sweeps=("compgs/table3_1_sota.yaml",), rows=("variant",), columns=("benchmark",),
    metrics=QUALITY + ("fps", "memory_mb", "train_time_min", "compression", "num_gaussians_k"), fmt="{:.3g}",
    published="compgs-table3.1.csv", quickstart=True, notes=MINI + BENCHMARK_GROUPS))
register_table(TableSpec(
    id="compgs-table3.2", paper="CompGS",
    title="CompGS Table 3.2: parameter compression without Gaussian-count reduction (mem: 3DGS = 20.0)",
    sweeps=("compgs/table3_2_param_compression.yaml",), rows=("variant",), columns=("benchmark",),
    metrics=QUALITY + ("mem", "memory_mb"), fmt="{:.3g}", published="compgs-table3.2.csv",
    notes=MINI + BENCHMARK_GROUPS + " The paper prints one Mem column for the three benchmarks (shown paper only); "
    "ours gives mem per benchmark."))
register_table(TableSpec(
    id="compgs-table3.3", paper="CompGS", title="CompGS Table 3.3: reducing the number of Gaussians (#Gauss in thousands)",
    sweeps=("compgs/table3_3_gaussian_count.yaml",), rows=("variant",), columns=("benchmark",),
    metrics=QUALITY + ("num_gaussians_k",), fmt="{:.3g}", published="compgs-table3.3.csv",
    notes=MINI + BENCHMARK_GROUPS))
register_table(TableSpec(
    id="compgs-table3.6", paper="CompGS", title="CompGS Table 3.6: memory breakdown of the CompGS file (%)",
    sweeps=("compgs/table3_6_memory_breakdown.yaml",), rows=("position_bits", "opacity_bits"),
    metrics=("nonquant_share", "quant_share", "index_share", "codebook_share"), fmt="{:.3g}",
    published="compgs-table3.6.csv",
    notes=MINI + " With ~5K Gaussians instead of millions the codebooks weigh more than in the paper."))
register_table(TableSpec(
    id="compgs-table3.7", paper="CompGS", title="CompGS Table 3.7: opacity regularisation weight lambda_reg (x1e-7)",
    sweeps=("compgs/table3_7_lambda_reg.yaml",), rows=("lambda_reg",), metrics=QUALITY + ("num_gaussians_k", "memory_mb"),
    fmt="{:.3g}", published="compgs-table3.7.csv", notes=MINI))
register_table(TableSpec(
    id="compgs-table3.8", paper="CompGS",
    title="CompGS Table 3.8: K-means iterations x frequency x codebook size vs quality and training time (min)",
    sweeps=("compgs/table3_8_iters.yaml", "compgs/table3_8_freq.yaml", "compgs/table3_8_codes.yaml"),
    rows=("kmeans_iters", "kmeans_freq", "cov_codes"), metrics=QUALITY + ("train_time_min",), fmt="{:.3g}",
    published="compgs-table3.8.csv", notes=MINI + " freq is in iterations of the 30K schedule (scaled with it)."))
register_table(TableSpec(
    id="compgs-table3.9", paper="CompGS", title="CompGS Table 3.9: which Gaussian parameters are vector-quantized",
    sweeps=("compgs/table3_9_quantized_params.yaml",), rows=("variant",), metrics=QUALITY + ("mem",), fmt="{:.3g}",
    published="compgs-table3.9.csv", notes=MINI + " The paper reports Tanks&Temples Train and Truck separately."))
register_table(TableSpec(
    id="compgs-fig3.4", paper="CompGS", title="CompGS Fig. 3.4: PSNR vs codebook size, one parameter quantized at a time",
    sweeps=("compgs/fig3_4_color_codebook.yaml", "compgs/fig3_4_covariance_codebook.yaml"),
    rows=("quantize", "color_codes", "cov_codes"), metrics=("psnr", "ssim"), fmt="{:.3g}", kind="figure",
    plot=_codebook_plot, notes=MINI + " The paper prints no numbers for this figure."))
register_table(TableSpec(
    id="compgs-fig3.5", paper="CompGS", title="CompGS Fig. 3.5 / Table B.3: codebook shared across scenes (frozen)",
    sweeps=("compgs/fig3_5_shared_codebook.yaml",), rows=("variant", "shared_codebook"), metrics=QUALITY + ("memory_mb",),
    fmt="{:.3g}", published="compgs-fig3.5.csv",
    notes=MINI + " Codebooks learned on scene 'mini' (sphere), reused on 'mini2' (box, textures swapped)."))
register_table(TableSpec(
    id="compgs-released-vs-text", paper="CompGS",
    title="CompGS: the text's VQ settings (compgs_16k) beside the released code's (compgs_released; compact3d run.sh)",
    sweeps=("compgs/released_vs_text.yaml",), rows=("variant",),
    metrics=QUALITY + ("memory_mb", "train_time_min", "num_gaussians_k"), fmt="{:.3g}",
    notes=MINI + " Not a table of the paper: no published values."))


# --- Tables 3.4, 3.5 (large benchmarks), App. B tables and Figs. 3.1 / B.1 ---
OTHER_DATASETS = (" The tandt/ (Tanks&Temples) and db/ (Deep Blending) columns are paper only: the paper-scale sweep "
                  "averages the Mip-NeRF360 scenes, the unprefixed columns.")
GROUP_ORDER = ("sh", "dc", "sh_dc", "scale", "rot", "pos")


def _speed_memory_plot(frame: pd.DataFrame, png: Path) -> None:
    """Fig. 3.1: rendering speed (FPS) against model size (MB, log), ours beside Table 3.1's published points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from results.render import read_published
    from results.spec import get_table

    fig, ax = plt.subplots(figsize=(5, 3.5))
    paper = read_published(get_table("compgs-table3.1"))
    fps, mb = "mipnerf360/fps", "mipnerf360/memory_mb"  # the figure plots Table 3.1's Mip-NeRF360 group
    paper = paper.assign(**{c: pd.to_numeric(paper[c], errors="coerce") for c in (fps, mb)})
    paper = paper.dropna(subset=[fps, mb])
    ax.scatter(paper[mb], paper[fps], marker="s", color="0.6", label="paper (Table 3.1, Mip-NeRF360)")
    for _, r in paper.iterrows():
        ax.annotate(str(r["variant"]), (r[mb], r[fps]), fontsize=6, color="0.4")
    ax.errorbar(frame["memory_mb_mean"], frame["fps_mean"], yerr=frame["fps_std"].fillna(0), fmt="o", capsize=3,
                label="ours")
    for _, r in frame.iterrows():
        ax.annotate(str(r["variant"]), (r["memory_mb_mean"], r["fps_mean"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("model file (MB)")
    ax.set_ylabel("FPS")
    ax.legend(fontsize=7)
    ax.set_title("CompGS Fig. 3.1: inference speed vs memory", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _code_histogram_plot(frame: pd.DataFrame, png: Path) -> None:
    """Fig. B.1: per codebook, the share of Gaussians held by its most-used code, top 1 % and top 10 % of codes
    (points of the sorted histogram's cumulative curve; a uniform spread would give 1/K, 1 %, 10 %)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in GROUP_ORDER if f"code_top1_share_{g}_mean" in frame]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, top in enumerate(("top1", "top1pct", "top10pct")):
        means = [float(frame[f"code_{top}_share_{g}_mean"].mean()) for g in groups]
        ax.bar([j + 0.27 * (i - 1) for j in range(len(groups))], means, width=0.27,
               label={"top1": "top code", "top1pct": "top 1 % of codes", "top10pct": "top 10 % of codes"}[top])
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("share of Gaussians (%)")
    ax.legend(fontsize=7)
    ax.set_title("CompGS Fig. B.1: concentration of code assignments", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


BIG_BENCH = (" Paper scale: the sweep names one scene folder (--set scene=...), the paper's scene lists are not "
             "published in the text. psnr_am (PSNR of the mean MSE over scenes) is paper only.")
register_table(TableSpec(
    id="compgs-table3.4", paper="CompGS", title="CompGS Table 3.4: ARKit-200 (Mem: 3DGS = 20.0)",
    sweeps=("compgs/table3_4_arkit.yaml",), rows=("variant",), metrics=QUALITY + ("mem",), fmt="{:.3g}",
    published="compgs-table3.4.csv",
    notes=MINI + " Mini analogue of the 200 ARKit scenes: the two generated scenes mini and mini2, averaged." + BIG_BENCH))
register_table(TableSpec(
    id="compgs-table3.5", paper="CompGS", title="CompGS Table 3.5: DL3DV-140 (memory in MB)",
    sweeps=("compgs/table3_5_dl3dv.yaml",), rows=("variant",), metrics=QUALITY + ("fps", "memory_mb"), fmt="{:.3g}",
    published="compgs-table3.5.csv",
    notes=MINI + " Mini analogue of the 140 DL3DV scenes: mini and mini2, averaged." + BIG_BENCH))
register_table(TableSpec(
    id="compgs-fig3.1", paper="CompGS", title="CompGS Fig. 3.1: inference speed (FPS) vs model size (MB)",
    sweeps=("compgs/table3_1_sota.yaml",), rows=("variant",), metrics=("fps", "memory_mb", "psnr"), fmt="{:.3g}",
    kind="figure", plot=_speed_memory_plot, filters={"benchmark": "mipnerf360"},
    notes=MINI + " The figure plots Table 3.1's Mip-NeRF360 numbers (drawn as the grey paper points); no numbers of "
    "its own. Only runs of the mipnerf360 group count (at paper scale the Tanks&Temples runs are left out)."))
register_table(TableSpec(
    id="compgs-tableB.1", paper="CompGS", title="CompGS Table B.1: PSNR per NeRF-Synthetic scene",
    sweeps=("compgs/tableB1_nerf_synthetic.yaml",), rows=("variant",), columns=("scene",), metrics=("psnr",),
    fmt="{:.2f}", published="compgs-tableB.1.csv",
    notes=MINI + " Mini analogue of the 8 NeRF-Synthetic scenes: columns mini and mini2; the paper's avg column is "
    "paper only."))
register_table(TableSpec(
    id="compgs-tableB.2", paper="CompGS",
    title="CompGS Table B.2: Deep Blending (SSIM, PSNR, FPS, file MB, training minutes)",
    sweeps=("compgs/tableB2_deep_blending.yaml",), rows=("variant",),
    metrics=QUALITY + ("fps", "memory_mb", "train_time_min"), fmt="{:.3g}", published="compgs-tableB.2.csv",
    notes=MINI + " Mini analogue of Deep Blending's two scenes: the generated scene mini."))
register_table(TableSpec(
    id="compgs-tableB.4", paper="CompGS", title="CompGS Table B.4: 3DGS PSNR over seeds, per scene",
    sweeps=("compgs/tableB4_3dgs_variance.yaml",), rows=("scene",), metrics=("psnr",), fmt="{:.3f}",
    published="compgs-tableB.4.csv",
    notes=MINI + " Mini: 5 seeds per generated scene (paper: 20). Ours shows mean and std over the seeds (the paper's "
    "Mean and Std rows); psnr_min and psnr_diff are paper only."))
register_table(TableSpec(
    id="compgs-tableB.5", paper="CompGS", title="CompGS Table B.5: scene-wise metrics of 3DGS and CompGS 32K",
    sweeps=("compgs/tableB5_scenewise.yaml",), rows=("scene", "variant"),
    metrics=QUALITY + ("train_time_s", "fps", "memory_mb", "num_gaussians"), fmt="{:.4g}",
    published="compgs-tableB.5.csv", notes=MINI + " Mini rows: the generated scenes mini and mini2."))
for _id, _field, _what in (("B.6", "min_opacity", "minimum opacity (pruning threshold)"),
                           ("B.7", "densify_interval", "densification interval (iterations of the 30K schedule)"),
                           ("B.8", "densify_until", "end of densification (iteration of the 30K schedule)"),
                           ("B.9", "grad_threshold", "densification gradient threshold")):
    register_table(TableSpec(
        id=f"compgs-table{_id}", paper="CompGS", title=f"CompGS Table {_id}: 3DGS baseline ablation, {_what}",
        sweeps=(f"compgs/table{_id.replace('.', '')}_{_field}.yaml",),
        rows=(_field,), metrics=QUALITY + ("num_gaussians_k",), fmt="{:.3g}", published=f"compgs-table{_id}.csv",
        notes=MINI + " Mini adds the 3DGS default as a reference row." + OTHER_DATASETS))
register_table(TableSpec(
    id="compgs-figB.1", paper="CompGS",
    title="CompGS Fig. B.1: share of Gaussians on the most-used codes, per codebook (%)",
    sweeps=("compgs/figB1_code_assignments.yaml",), rows=("variant",),
    metrics=tuple(f"code_{t}_share_{g}" for g in ("sh", "dc", "scale", "rot") for t in ("top1", "top1pct", "top10pct")),
    fmt="{:.3g}", kind="figure", plot=_code_histogram_plot,
    notes=MINI + " The released settings (compgs_released: SH codebook 512, as the figure's '512 codes'). The paper "
    "prints no numbers; its text reads ~5 % of the Gaussians on the top SH and DC code (Tanks&Temples Train)."))
