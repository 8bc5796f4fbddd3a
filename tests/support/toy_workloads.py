"""Test-only workloads (registered when this module is imported)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orchestrator.context import Context
from orchestrator.registry import register


@dataclass
class QuadraticConfig:
    x: float = 0.0            # point at which the quadratic is evaluated
    offset: float = 1.0       # minimum value
    steps: int = 3            # streamed reports
    sleep: float = 0.0        # seconds per step (to interrupt a sweep mid-way)
    mode: Literal["plain", "artifact"] = "plain"  # whether an artifact is attached
    lr: float = 0.1           # unused by the math; present to test overrides
    n_layers: int = 2         # integer parameter for type checks


@register("toy_quadratic", config=QuadraticConfig, metrics=("loss", "step_value", "objective", "final_x"))
def quadratic(cfg: QuadraticConfig, ctx: Context) -> None:
    state = ctx.restore() or {"step": 0}
    value = (cfg.x - 2.0) ** 2 + cfg.offset + 0.01 * ctx.seed
    for step in range(state["step"], cfg.steps):
        ctx.report(step=step, loss=value + (cfg.steps - step), step_value=float(step))
        ctx.checkpoint({"step": step + 1})
        if cfg.sleep:
            time.sleep(cfg.sleep)
        ctx.progress(step + 1, cfg.steps)
    if cfg.mode == "artifact":
        p = ctx.work_dir / "note.txt"
        p.write_text(f"x={cfg.x}\n")
        ctx.artifact(p)
    ctx.summary(objective=value, final_x=cfg.x)


@dataclass
class FlakyConfig:
    fail: bool = True         # whether this trial raises
    marker_dir: str = ""      # folder where each attempt leaves a file (counts retries)


@register("toy_flaky", config=FlakyConfig, metrics=("value",))
def flaky(cfg: FlakyConfig, ctx: Context) -> None:
    if cfg.marker_dir:
        d = Path(cfg.marker_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"attempt-{os.getpid()}-{time.time_ns()}").write_text("x")
    ctx.report(step=0, value=1.0)
    if cfg.fail:
        raise RuntimeError("toy_flaky failed on purpose")
    ctx.summary(value=1.0)
