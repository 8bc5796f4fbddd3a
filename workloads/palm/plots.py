"""Fig. 2: per-layer LR importance averaged over each task."""
from __future__ import annotations

from pathlib import Path


def plot_importance(table: dict[str, dict[str, float]], png: Path, title: str, tasks: tuple[str, ...] = ("glass_blur", "snow")) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [t for t in tasks if t in table] or list(table)[:2]
    fig, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 3), squeeze=False)
    for ax, task in zip(axes[0], shown):
        values = list(table[task].values())
        ax.bar(range(len(values)), values)
        ax.set_title(f"{task}")
        ax.set_xlabel("layer (input → output)")
        ax.set_ylabel("mean importance i")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
