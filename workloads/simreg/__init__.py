"""SimReg: regression-based distillation of self-supervised features, with CompRess baselines (workload ``simreg``).

Declared here, torch-free: validating a sweep (``orchestrator list``/``show``, every spec error) reads only
the config and the metrics; ``workload.run`` (torch & co.) is imported when a trial runs.
"""
from orchestrator.registry import declare
from workloads.simreg.config import SimRegConfig

declare("simreg", config=SimRegConfig, entry="workloads.simreg.workload:run",
        metrics=("loss", "nn1", "nn20", "linear", "head_nn1", "head_nn20", "head_linear", "mid_nn1", "mid_nn20",
                 "mid_linear", "mse", "mid_mse", "stage*_nn1", "stage*_nn20", "transfer_*", "final_loss", "steps"))
