"""Configuration of the ``compgs`` workload (dissertation Sec. 3.1, App. B).

Schedule fields are in iterations of the paper's 30K schedule; a run with ``iterations`` != 30000 scales every
one of them by iterations / 30000, so smoke and mini runs keep the paper's shape (densify until half-way, VQ
in the last third, ...). Codebook sizes are the paper's; ``codebook_scale`` shrinks them for scenes with
far fewer Gaussians (K/N stays near the paper's ratio).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from workloads.compgs.benchmarks import resolve_benchmark

PAPER_ITERATIONS = 30000


@dataclass
class CompGSConfig:
    variant: str = ""                  # a named row of a paper table (variants.py), sets several fields; "" = as given
    method: Literal["3dgs", "compgs", "post_kmeans"] = "compgs"  # training: plain, VQ-aware, or K-means after 3DGS
    scene: str = "mini"                # smoke | mini | mini2 (made here) or a folder under data_root (NeRF-synthetic / COLMAP)
    image_size: int = 0                # width of the views; 0 = scene default (smoke 24, mini 64, COLMAP 1600, NeRF 800)
    benchmark: str = "auto"            # column group of Tables 3.1-3.3 (mipnerf360 | tandt | db | other), a label training
                                       # ignores; auto = the scene folder's benchmark (workloads/compgs/benchmarks.py)
    images: str = "auto"               # COLMAP image folder: auto = 3DGS full_eval.py (Mip-NeRF360 outdoor images_4, indoor images_2, else images)
    iterations: int = 30000            # training iterations (paper 30K); the schedule below is scaled to it
    sh_degree: int = 3                 # 3 = 3DGS; 0 = 3DGS-No-SH (DC colour only)
    sh_interval: int = 1000            # raise the active SH degree every this many iterations (3DGS)
    quantize: str = "sh,dc,scale,rot"  # comma-separated codebook groups; "a+b" shares one codebook (SH+DC); pos allowed
    color_codes: int = 4096            # codebook size of dc / sh / sh+dc (paper 4096)
    cov_codes: int = 16384             # codebook size of scale and rot ("CompGS 16K"/"32K")
    sh_codes: int = 0                  # codebook size of a group holding sh (sh, sh+dc); 0 = color_codes (text); compact3d run.sh: 512
    pos_codes: int = 16384             # codebook size of positions (Table 3.9 "Pos" only)
    codebook_scale: float = 1.0        # multiplies every codebook size (mini: 1/64); at least 2 codes remain
    vq_start: int = 20000              # start of quantization-aware training
    assign_end: int = 25000            # last iteration that recomputes assignments
    kmeans_freq: int = 100             # assignments recomputed every this many iterations
    kmeans_iters: int = 1              # K-means iterations per assignment update
    post_kmeans_iters: int = 10        # K-means iterations of the post-training baseline
    empty_cluster: Literal["zero", "keep"] = "zero"  # centroid without members: zero vector (compact3d) or keep old value
    sort_by: str = "auto"              # group whose index is run-length encoded; auto = rot, else the first group
    shared_codebook: bool = False      # Fig. 3.5: freeze codebooks learned (same settings) on codebook_scene; learn assignments
    codebook_scene: str = "mini"       # the scene those shared codebooks come from
    lambda_reg: float = 0.0            # opacity l1 weight, in units of 1e-7 as the paper prints (CompGS: 1.0)
    reg_multiplier: float = 1.0        # scales lambda_reg for small scenes (fewer pixels per Gaussian than the paper's)
    reg_start: int = 15000             # opacity regularisation on 1-based iterations reg_start..reg_end (compact3d: 15000..20000)
    reg_end: int = 20000               # ... its last iteration (compact3d --max_prune_iter)
    reg_prune_interval: int = 1000     # opacity pruning at 1-based iterations in (reg_start, reg_end] divisible by this
    densify_from: int = 500            # 3DGS densification window and interval
    densify_until: int = 15000
    densify_interval: int = 100
    grad_threshold: float = 0.0002     # mean view-space (NDC) gradient that triggers clone/split
    grad_multiplier: float = 1.0       # scales grad_threshold for small scenes (mini: few, large Gaussians)
    percent_dense: float = 0.01        # clone if max scale <= percent_dense * extent, else split
    min_opacity: float = 0.005         # pruning threshold
    opacity_reset_interval: int = 3000  # opacities reset to <= 0.01
    lr_position: float = 0.00016       # 3DGS learning rates (position: times the scene extent, decays to final)
    lr_position_final: float = 0.0000016
    lr_dc: float = 0.0025
    lr_sh: float = 0.000125
    lr_opacity: float = 0.05
    lr_scale: float = 0.005
    lr_rot: float = 0.001
    position_bits: int = 32            # storage: 32 = fp32, 16/8/4 = absmax Int-b (BitQ: 16)
    opacity_bits: int = 32             # (BitQ: 8)
    attribute_bits: int = 32           # other raw attributes and the codebooks (Int16 baselines: 16)
    n_init: int = 0                    # generated scenes: SfM-like initial points; 0 = scene default
    max_gaussians: int = 0             # >0 stops densification at this count (CPU safety)
    fps_repeats: int = 3               # timed renders of the test views for FPS
    backend: Literal["auto", "torch", "gsplat"] = "auto"  # gsplat when CUDA and the package are present
    checkpoint_every: int = 0          # iterations between ctx.checkpoint; 0 = 10 per run
    lpips_weights: str = ""            # local torchvision AlexNet/VGG16 state dict (torch.save(tv.alexnet(weights=..).state_dict()));
                                       # set: summary metric lpips (mean over test views); "" = no LPIPS (nothing is downloaded)
    lpips_net: Literal["alex", "vgg"] = "alex"  # LPIPS trunk the weights file is for (paper: alex)

    def __post_init__(self) -> None:
        # resolved here, so the trial's recorded params (the tables' column key) carry the benchmark, never "auto"
        self.benchmark = resolve_benchmark(self.scene, self.benchmark)

    def resolved(self, env: Any) -> "CompGSConfig":
        """The config that runs (``orchestrator.context.resolved_config``), as ``workload.run`` and ``train`` pick
        it: the variant's fields (``variants.apply_variant``; ``variant`` stays as the row's name), ``sh_codes: 0``
        = ``color_codes`` (``groups.codebook_size``), ``sort_by: auto`` = the rotation group, else the first
        (``export.pick_sort_group``), ``backend: auto`` = gsplat on CUDA with the package, else torch
        (``render_backend.resolve_backend``), ``checkpoint_every: 0`` = iterations // 10, ``images: auto`` = 3DGS
        full_eval.py's folder (``colmap.image_folder``), and for a generated scene its ``image_size`` and
        ``n_init``. A folder scene's image width and initial points need the data: ``loaded`` records them."""
        from workloads.compgs.variants import apply_variant  # (deferred: the others import torch)

        out = apply_variant(self)
        out = replace(out, sh_codes=out.sh_codes or out.color_codes,
                      checkpoint_every=out.checkpoint_every or max(1, out.iterations // 10))
        if out.method != "3dgs" and out.sort_by == "auto":
            from workloads.compgs.export import pick_sort_group
            from workloads.compgs.groups import parse_groups

            out = replace(out, sort_by=pick_sort_group(parse_groups(out.quantize, out.sh_degree), "auto") or "auto")
        if out.backend == "auto":
            cuda = str(env.device).startswith("cuda")
            if cuda:
                from workloads.compgs.gsplat_backend import backend_available
            out = replace(out, backend="gsplat" if cuda and backend_available() else "torch")
        from workloads.compgs.generated_scene import N_INIT, SCENES

        if out.scene in SCENES:
            out = replace(out, image_size=out.image_size or SCENES[out.scene][-3],  # (the scene's view size)
                          n_init=out.n_init or N_INIT[out.scene])
        elif out.images == "auto":
            from workloads.compgs.colmap import image_folder

            out = replace(out, images=image_folder(out.scene, "auto"))
        return out

    def loaded(self, scene: dict) -> "CompGSConfig":
        """``self`` with what the loaded scene fixed: ``image_size`` = the width of its training views (0 = the
        scene's own, at most 1600 px for COLMAP) and ``n_init`` = its initial points (0 = every SfM point)."""
        return replace(self, image_size=int(scene["train"][0]["image"].shape[-1]), n_init=len(scene["points"]))

    def not_applicable(self) -> set[str]:
        """Fields this run never reads (orchestrator.context.config_record groups them in one MLflow param, and
        the scene they name is no dataset input of the run): the shared codebooks' scene without them, the COLMAP
        image folder of a generated scene, the stored file's sort group without codebooks, the post-training
        K-means iterations of the other methods."""
        unused = set() if self.shared_codebook else {"codebook_scene"}
        if self.method == "3dgs":
            unused.add("sort_by")
        if self.method != "post_kmeans":
            unused.add("post_kmeans_iters")
        from workloads.compgs.generated_scene import SCENES  # (deferred: imports torch)

        return unused | ({"images"} if self.scene in SCENES else set())

    def at(self, paper_iteration: int) -> int:
        """A schedule point of the 30K schedule, scaled to ``iterations``."""
        return round(paper_iteration * self.iterations / PAPER_ITERATIONS)

    def every(self, paper_interval: int) -> int:
        """An interval of the 30K schedule, scaled to ``iterations`` (at least 1)."""
        return max(1, round(paper_interval * self.iterations / PAPER_ITERATIONS))
