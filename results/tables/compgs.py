"""CompGS (dissertation Sec. 3.1, App. B): Tables 3.1-3.3, 3.6-3.9, Figs. 3.4 and 3.5.

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
    sweeps=("compgs/table3_1_sota.yaml",), rows=("variant",),
    metrics=QUALITY + ("fps", "memory_mb", "train_time_min", "compression", "num_gaussians_k"), fmt="{:.3g}",
    published="compgs-table3.1.csv", quickstart=True, notes=MINI))
register_table(TableSpec(
    id="compgs-table3.2", paper="CompGS",
    title="CompGS Table 3.2: parameter compression without Gaussian-count reduction (mem: 3DGS = 20.0)",
    sweeps=("compgs/table3_2_param_compression.yaml",), rows=("variant",), metrics=QUALITY + ("mem", "memory_mb"),
    fmt="{:.3g}", published="compgs-table3.2.csv", notes=MINI))
register_table(TableSpec(
    id="compgs-table3.3", paper="CompGS", title="CompGS Table 3.3: reducing the number of Gaussians (#Gauss in thousands)",
    sweeps=("compgs/table3_3_gaussian_count.yaml",), rows=("variant",), metrics=QUALITY + ("num_gaussians_k",),
    fmt="{:.3g}", published="compgs-table3.3.csv", notes=MINI))
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
