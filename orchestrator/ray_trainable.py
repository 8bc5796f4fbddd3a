"""The function trainable given to Ray Tune: the trial's CPU threads first, then ``ray_context.run_trial``."""
from __future__ import annotations

from typing import Any

from orchestrator.ray_context import TrialPlan, run_trial
from orchestrator.trial_clock import trial_clock
from orchestrator.trial_threads import assigned_cpus, limit_threads


def trial_trainable(config: dict[str, Any], plan: TrialPlan) -> None:
    """Limit torch/OpenMP/MKL threads to the CPUs Ray gave this trial, then run it (``orchestrator.trial_threads``
    says why the trainable, not Ray, must do this). ``trial_clock`` times it for benchmarks only."""
    with trial_clock():
        limit_threads(assigned_cpus())
        run_trial(config, plan)
