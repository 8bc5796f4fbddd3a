"""Test-time specialization of early-exit RevCol networks (Leroux et al.): workload ``tts``."""
from workloads.tts.workload import run  # noqa: F401  (registers the workload)
