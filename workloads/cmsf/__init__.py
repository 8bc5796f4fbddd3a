"""Constrained Mean Shift (CMSF) representation learning, with BYOL and MSF as its special cases (workload ``cmsf``)."""
from workloads.cmsf.workload import run

__all__ = ["run"]
