"""PALM continual test-time adaptation and its baselines (workload ``palm``).

Declared here, torch-free: validating a sweep (``orchestrator list``/``show``, every spec error) reads only
the config and the metrics; ``workload.run`` (torch & co.) is imported when a trial runs.
"""
from orchestrator.registry import declare
from workloads.palm.config import PalmConfig

declare("palm", config=PalmConfig, entry="workloads.palm.workload:run",
        metrics=("error", "adapted_fraction", "selected_fraction", "severity", "error_*", "mean_error",
                 "adapted_pct", "adapted_pct_*", "selected_pct", "selected_pct_*", "reading_is_paper",
                 "seconds_per_batch", "importance_*"))
