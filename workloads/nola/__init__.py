"""NOLA: LoRA re-parameterised on random bases, with LoRA and PRANC baselines (workload ``nola``).

Declared here, torch-free: validating a sweep (``orchestrator list``/``show``, every spec error) reads only
the config and the metrics; ``workload.run`` (torch & co.) is imported when a trial runs.
"""
from orchestrator.registry import declare
from workloads.nola.config import NolaConfig

declare("nola", config=NolaConfig, entry="workloads.nola.workload:run",
        metrics=("loss", "accuracy", "train_loss", "train_seconds", "trainable_params", "adapter_params",
                 "checkpoint_bytes", "pranc_rank", "nola_rank", "max_rank", "coefficients", "ms_per_batch",
                 "train_memory_gb", "trainable_k", "bleu", "rouge_l", "nist", "meteor", "cider"))
