"""NOLA (dissertation Sec. 3.2, App. B.10): few-shot ViT, basis size, shared basis, rank, quantization,
training from scratch and Fig. 3.7 (subspace coverage)."""
from pathlib import Path

import pandas as pd

from results.spec import TableSpec, register_table

FEWSHOT = ("accuracy", "trainable_params", "checkpoint_bytes")
MINI = ("mini scale: small ViT pre-trained here on scikit-learn digits, adapted 10-shot to digits-c "
        "(gaussian noise, severity 3); the paper adapts ImageNet ViT-B/L to CIFAR-10/100, CUB, Caltech.")


def plot_subspace(frame: pd.DataFrame, png: Path) -> None:
    """Fig. 3.7: covariance rank of sampled ΔW against the coefficient count n, PRANC vs NOLA, per d."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    for d, grp in frame.groupby(pd.to_numeric(frame["subspace_d"])):
        grp = grp.assign(n=pd.to_numeric(grp["subspace_n"])).sort_values("n")
        ax.plot(grp["n"], grp["pranc_rank_mean"], "--o", label=f"PRANC d={d}")
        ax.plot(grp["n"], grp["nola_rank_mean"], "-s", label=f"NOLA d={d}")
    ax.set_xlabel("number of coefficients n (NOLA: k = l = n/2)")
    ax.set_ylabel("rank of covariance of vec(ΔW)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


register_table(TableSpec(
    id="nola-quickstart", paper="NOLA", quickstart=True,
    title="NOLA headline: 10-shot ViT accuracy (%) — Linear vs LoRA vs NOLA-MLP with fewer parameters (Table 3.15 analogue)",
    sweeps=("nola/quickstart.yaml",), rows=("method",), metrics=FEWSHOT, fmt="{:.1f}", notes=MINI))
register_table(TableSpec(
    id="nola-table3.15", paper="NOLA",
    title="NOLA Table 3.15: few-shot ViT classification, accuracy (%) mean ± std over sampled sets × initialisations",
    sweeps=("nola/fewshot_vit.yaml",), rows=("method", "target", "rank"), metrics=FEWSHOT, fmt="{:.1f}", notes=MINI))
register_table(TableSpec(
    id="nola-table3.10-vit", paper="NOLA",
    title="NOLA Table 3.10 analogue: k = l ∈ {250, 500, 1000} × rank × adapted layers, few-shot ViT accuracy (%)",
    sweeps=("nola/table3_10_basis.yaml",), rows=("basis_size", "rank", "target"), metrics=FEWSHOT, fmt="{:.1f}",
    notes=MINI + " The paper's Table 3.10 is GPT-2 on E2E (BLEU etc.)."))
register_table(TableSpec(
    id="nola-table3.11", paper="NOLA",
    title="NOLA Table 3.11: shared vs per-layer random basis vs LoRA — accuracy (%) and training time (s)",
    sweeps=("nola/table3_11_shared.yaml",), rows=("method", "shared_basis"), metrics=("accuracy", "train_seconds"),
    fmt="{:.2f}", notes=MINI))
register_table(TableSpec(
    id="nola-table3.12-vit", paper="NOLA",
    title="NOLA Table 3.12 analogue: effect of the rank at a fixed parameter count (k = l), few-shot ViT accuracy (%)",
    sweeps=("nola/table3_12_rank.yaml",), rows=("basis_size", "rank"), metrics=FEWSHOT, fmt="{:.1f}", notes=MINI))
register_table(TableSpec(
    id="nola-table3.13-vit", paper="NOLA",
    title="NOLA Table 3.13 analogue: quantized coefficients, PTQ vs QAT (STE), 2–8 bits, few-shot ViT accuracy (%)",
    sweeps=("nola/table3_13_quant.yaml",), rows=("quant_mode", "quant_bits"), metrics=FEWSHOT, fmt="{:.1f}",
    notes=MINI))
register_table(TableSpec(
    id="nola-tableB.10", paper="NOLA",
    title="NOLA Table B.10: training from scratch — trained model vs PRANC vs LoRA vs NOLA (# params, accuracy %)",
    sweeps=("nola/tableB10_scratch.yaml",), rows=("method",), metrics=("trainable_params", "accuracy", "train_loss"),
    fmt="{:.2f}", published="nola-tableB.10.csv",
    notes="Paper: ResNet20 on CIFAR-10. mini scale: MLP 1024-256-10 on scikit-learn digits (grey)."))
register_table(TableSpec(
    id="nola-fig3.7", paper="NOLA", kind="figure", plot=plot_subspace,
    title="NOLA Fig. 3.7: rank of the covariance of sampled ΔW, PRANC (n bases) vs NOLA (k = l = n/2)",
    sweeps=("nola/fig3_7_subspace.yaml",), rows=("subspace_d", "subspace_n"),
    metrics=("pranc_rank", "nola_rank", "max_rank"), fmt="{:.0f}"))
register_table(TableSpec(
    id="nola-search", paper="NOLA",
    title="NOLA Optuna search over k = l, rank and learning rates (few-shot ViT accuracy %)",
    sweeps=("nola/search.yaml",), rows=("basis_size", "rank", "lr", "head_lr"), metrics=("accuracy",), fmt="{:.1f}"))
