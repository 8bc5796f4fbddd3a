"""Test-time specialization of early-exit RevCol networks (Leroux et al.): workload ``tts``.

Declared here, torch-free: validating a sweep (``orchestrator list``/``show``, every spec error) reads only
the config and the metrics; ``workload.run`` (torch & co.) is imported when a trial runs.
"""
from orchestrator.registry import declare
from workloads.tts.config import TTSConfig

declare("tts", config=TTSConfig, entry="workloads.tts.workload:run",
        metrics=("accuracy", "gflops", "exit_mean", "exit_frac_*", "latency_ms", "latency_std_ms",
                 "latency_median_ms", "latency_p10_ms", "latency_p90_ms", "*_test_accuracy", "inference_worst_ms",
                 "update_step_ms", "update_overhead_pct", "stream_exit_mean", "stream_accuracy", "stream_images",
                 "updates", "held_out_images", "subset_*", "other_*"))
