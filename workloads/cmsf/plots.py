"""Fig. 2.5: purity of the top-5 from C vs from M vs the top-m of M, and the median rank m, over training."""
from __future__ import annotations

from pathlib import Path


def plot_rank_curve(points: list[dict], out_png: Path, title: str) -> None:
    """``points``: one dict per epoch with ``epoch``, ``rank5_median`` and, where measured, ``purity_c``,
    ``purity_m`` and ``purity_top_m`` (%). Left axis: purities (the paper's red/black/green curves);
    right axis: the median rank m of the 5th element of C in M."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    ep = [p["epoch"] for p in points]
    for key, colour, label in (("purity_c", "red", "top-5 of C"), ("purity_m", "black", "top-5 of M"),
                               ("purity_top_m", "green", "top-m of M")):
        ys = [p.get(key, float("nan")) for p in points]
        ax.plot(ep, ys, marker="o", color=colour, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("purity (%)")
    twin = ax.twinx()
    twin.plot(ep, [p["rank5_median"] for p in points], ls="--", color="tab:blue", label="median rank m")
    twin.set_ylabel("median rank in M of 5th of C")
    lines = ax.get_legend_handles_labels()
    lines2 = twin.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="best")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
