"""NOLA: LoRA re-parameterised on random bases, with LoRA and PRANC baselines (workload ``nola``)."""
from workloads.nola.workload import run

__all__ = ["run"]
