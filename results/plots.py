"""Reusable figure builders for TableSpec.plot: they draw the aggregated frame (means ± std over seeds)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd


def line_plot(x: str, metric: str, group: str | None = None, *, xlabel: str | None = None, ylabel: str | None = None,
              logx: bool = False, title: str = "") -> Callable[[pd.DataFrame, Path], None]:
    """A line per ``group`` value of ``metric`` (mean ± std) against numeric ``x``."""

    def plot(frame: pd.DataFrame, png: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        groups = frame.groupby(group) if group else [("", frame)]
        for name, g in groups:
            g = g.assign(_x=pd.to_numeric(g[x], errors="coerce")).sort_values("_x")
            ax.errorbar(g["_x"], g[f"{metric}_mean"], yerr=g[f"{metric}_std"].fillna(0), marker="o", capsize=3,
                        label=str(name) if group else None)
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel or metric)
        if group:
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(png, dpi=110)
        plt.close(fig)

    return plot
