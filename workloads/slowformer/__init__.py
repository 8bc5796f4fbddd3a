"""SlowFormer: universal patch attacks on the compute of token-dropping ViTs (workload ``slowformer``)."""
from workloads.slowformer.workload import run

__all__ = ["run"]
