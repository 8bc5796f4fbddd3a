"""CompGS: vector-quantized 3D Gaussian splatting (dissertation Section 3.1, Appendix B); workload ``compgs``.

Declared here, torch-free: validating a sweep (``orchestrator list``/``show``, every spec error) reads only
the config and the metrics; ``workload.run`` (torch & co.) is imported when a trial runs.
"""
from orchestrator.registry import declare
from workloads.compgs.config import CompGSConfig

declare("compgs", config=CompGSConfig, entry="workloads.compgs.workload:run",
        metrics=("loss", "num_gaussians", "psnr", "ssim", "lpips", "fps", "num_gaussians_k", "memory_mb",
                 "compression", "mem", "train_time_min", "train_time_s", "render_pairs_k", "nonquant_share",
                 "quant_share", "index_share", "codebook_share", "code_top1_share_*", "code_top*pct_share_*",
                 "codes_used_*"))
