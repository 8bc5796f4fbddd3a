"""Inference policies of Table 1, spelled as strings in sweeps: ``fixed:<exit>``, ``threshold:<t>``,
``thresholds:<t0>,<t1>,...`` (one per exit; the last is ignored, the last exit always answers) and ``baseline``."""
from __future__ import annotations

import torch

from workloads.tts.early_exit import fixed_exit_thresholds, uniform_thresholds

FORMS = "fixed:<exit>, threshold:<t>, thresholds:<t0>,<t1>,... or baseline"


def parse_policy(policy: str, num_exits: int) -> torch.Tensor | None:
    """Per-exit thresholds of ``policy``; ``None`` for the baseline (the plain model without early heads)."""
    kind, _, arg = policy.partition(":")
    try:
        if kind == "baseline" and not arg:
            return None
        if kind == "fixed":
            return fixed_exit_thresholds(int(arg), num_exits)
        if kind == "threshold":
            return uniform_thresholds(float(arg), num_exits)
        if kind == "thresholds":
            values = [float(v) for v in arg.split(",")]
            if len(values) != num_exits:
                raise ValueError(f"{len(values)} thresholds given for {num_exits} exits")
            return torch.tensor(values)
    except ValueError as exc:
        raise ValueError(f"policy {policy!r} is malformed ({exc}); write {FORMS}") from None
    raise ValueError(f"unknown policy {policy!r}; write {FORMS}")
