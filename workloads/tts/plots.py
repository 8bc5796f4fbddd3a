"""Fig. 4 drawings: latency-accuracy curves of the subset and of all other classes, before/after specialization."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence


def draw_panel(ax, curves: dict[tuple[str, str], tuple[Sequence[float], Sequence[float]]], title: str,
               xlabel: str) -> None:
    """``curves[(set, when)] = (costs, accuracies)``; set in {subset, other}, when in {before, after}.
    Colours and line styles as the paper's Fig. 4: green subset, red other, solid before, dotted after."""
    colour = {"subset": "tab:green", "other": "tab:red"}
    style = {"before": "-", "after": ":"}
    for (which, when), (xs, ys) in curves.items():
        pts = sorted(zip(xs, ys))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style[when], color=colour[which], marker="o", ms=3,
                label=f"{which} {when}")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)


def save_panels(panels: dict[str, dict], out_png: Path, xlabel: str = "latency (ms)") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, (title, curves) in zip(axes.flat, panels.items()):
        draw_panel(ax, curves, title, xlabel)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png
