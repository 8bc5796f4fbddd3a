"""Fig. 2.5: median rank in M of the 5th element of S_i drawn from C, over training."""
from __future__ import annotations

from pathlib import Path


def plot_rank_curve(points: list[tuple[int, float]], out_png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("median rank in M")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
