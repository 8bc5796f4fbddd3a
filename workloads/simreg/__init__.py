"""SimReg: regression-based distillation of self-supervised features, with CompRess baselines (workload ``simreg``)."""
from workloads.simreg.workload import run

__all__ = ["run"]
