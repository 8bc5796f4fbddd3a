"""SlowFormer: universal patch attacks on the compute of token-dropping ViTs (workload ``slowformer``).

Declared here, torch-free: validating a sweep (``orchestrator list``/``show``, every spec error) reads only
the config and the metrics; ``workload.run`` (torch & co.) is imported when a trial runs.
"""
from orchestrator.registry import declare
from workloads.slowformer.config import SlowFormerConfig

declare("slowformer", config=SlowFormerConfig, entry="workloads.slowformer.workload:run",
        metrics=("attack_loss", "gflops", "gflops_clean", "gflops_dense", "gflops_exact", "gflops_clean_exact",
                 "gflops_dense_exact", "top1", "top1_clean", "top1_dense", "mean_tokens", "mean_tokens_clean",
                 "defense_pool_size", "attack_success", "attack_success_exact", "tokens_l*", "attack_steps_run",
                 "tap_targets_averaged"))
