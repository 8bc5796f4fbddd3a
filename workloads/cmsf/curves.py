"""Per-epoch diagnostics read at fixed shares of training, so that a figure over training (Fig. 2.5, Fig. A.1)
is made of summary metrics whose names do not depend on the number of epochs of a scale."""
from __future__ import annotations

import math

CURVE_PERCENTS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)


def epoch_at(percent: int, epochs: int) -> int:
    """The epoch (1-based) that ends ``percent`` % of an ``epochs``-epoch run: ceil(percent / 100 x epochs), >= 1."""
    return max(1, math.ceil(percent * epochs / 100 - 1e-9))


def curve_summary(points: list[dict], epochs: int, keys: tuple[str, ...]) -> dict[str, float]:
    """``<key>_at<percent>`` for each key and share of training: the value of the last measured epoch at or before
    that share's epoch (``points``: one dict per measured epoch with ``epoch`` and the keys)."""
    out: dict[str, float] = {}
    for pct in CURVE_PERCENTS:
        upto = [p for p in points if p["epoch"] <= epoch_at(pct, epochs)]
        if not upto:
            continue
        for key in keys:
            vals = [p[key] for p in upto if key in p]
            if vals:
                out[f"{key}_at{pct}"] = float(vals[-1])
    return out
