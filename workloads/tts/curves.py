"""Comparing latency-accuracy curves (Fig. 4): accuracy reachable at a matched cost budget."""
from __future__ import annotations

import math
from typing import Sequence


def accuracy_at_cost(costs: Sequence[float], accs: Sequence[float], budget: float) -> float:
    """Accuracy of a curve at cost ``budget``: linear between its points; above its most expensive point
    the curve's best accuracy (spending less than the budget is allowed); NaN below its cheapest point.

    Points are sorted by cost and the curve is made monotone (the best accuracy at cost <= c), as a
    deployment would pick the best threshold within a budget."""
    pts = sorted(zip(costs, accs))
    xs, ys, best = [], [], -math.inf
    for c, a in pts:
        best = max(best, a)
        xs.append(c)
        ys.append(best)
    if not xs or budget < xs[0]:
        return math.nan
    if budget >= xs[-1]:
        return ys[-1]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= budget <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (budget - x0) / (x1 - x0)
    return math.nan  # unreachable: the budget lies within [xs[0], xs[-1]]


def matched_cost_gain(before_costs: Sequence[float], before_accs: Sequence[float],
                      after_costs: Sequence[float], after_accs: Sequence[float]) -> float:
    """Mean accuracy gain of the *after* curve over the *before* curve at the before curve's own costs
    (points the after curve cannot reach that cheaply are skipped); NaN when no point is comparable."""
    gains = [accuracy_at_cost(after_costs, after_accs, c) - a for c, a in zip(before_costs, before_accs)]
    gains = [g for g in gains if not math.isnan(g)]
    return sum(gains) / len(gains) if gains else math.nan
