"""Constrained Mean Shift (CMSF) representation learning, with BYOL and MSF as its special cases (workload ``cmsf``).

Declared here, torch-free: validating a sweep (``orchestrator list``/``show``, every spec error) reads only
the config and the metrics; ``workload.run`` (torch & co.) is imported when a trial runs.
"""
from orchestrator.registry import declare
from workloads.cmsf.config import CmsfConfig

declare("cmsf", config=CmsfConfig, entry="workloads.cmsf.workload:run",
        metrics=("loss", "rank5_median", "purity_c", "purity_m", "purity_top_m", "pseudo_acc", "pseudo_conf_share",
                 "*_at*", "nn1", "nn20", "linear", "linear_*pct", "finetune_10pct", "final_loss", "steps",
                 "step_ms", "nn_share", "crops_fwd", "crops_bwd", "batch", "minibatch", "iters_per_epoch",
                 "train_epochs", "total_pass_1e8", "train_flops_1e18", "forward_gflops"))
