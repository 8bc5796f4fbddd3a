"""PALM continual test-time adaptation and its baselines (workload ``palm``)."""
from workloads.palm.workload import run

__all__ = ["run"]
