"""The ``compgs`` workload: train 3DGS / CompGS on a scene, write the real model file, load it back, and measure
PSNR / SSIM / FPS / #Gaussians / size (and LPIPS when ``lpips_weights`` names a local backbone) from the loaded file (dissertation Sec. 3.1, Tables 3.1-3.9, Figs. 3.4-3.5)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from PIL import Image

from orchestrator.context import Context
from orchestrator.registry import ConfigError
from workloads.compgs.colmap import load_colmap
from workloads.compgs.config import CompGSConfig
from workloads.compgs.evaluate import evaluate
from workloads.compgs.export import pick_sort_group, plain_3dgs_bytes, renderable, to_file_content
from workloads.compgs.code_usage import code_usage_metrics
from workloads.compgs.generated_scene import N_INIT, SCENES, make_scene
from workloads.compgs.groups import GroupQuantizer, codebook_size, parse_groups
from workloads.compgs.lpips_metric import build_lpips
from workloads.compgs.model import GaussianModel
from workloads.compgs.nerf_synthetic import SceneMissingError, load_nerf_synthetic
from workloads.compgs.requirements import lpips_weights_path  # relative: under the data root, never the cwd
from workloads.compgs.render_backend import resolve_backend
from workloads.compgs.storage import load_compressed, memory_breakdown, save_compressed
from workloads.compgs.train import post_training_kmeans, train, vq_schedule
from workloads.compgs.variants import apply_variant

STORAGE_ONLY = ("variant", "position_bits", "opacity_bits", "attribute_bits", "fps_repeats", "checkpoint_every",
                "sort_by", "post_kmeans_iters", "lpips_weights", "lpips_net", "benchmark")
VQ_ONLY = ("quantize", "color_codes", "cov_codes", "sh_codes", "pos_codes", "codebook_scale", "vq_start", "assign_end",
           "kmeans_freq", "kmeans_iters", "shared_codebook", "codebook_scene", "empty_cluster")


def check_config(cfg: CompGSConfig) -> None:
    """Impossible combinations, each with its fix."""
    for f in ("position_bits", "opacity_bits", "attribute_bits"):
        b = getattr(cfg, f)
        if b != 32 and not 2 <= b <= 16:
            raise ConfigError(f"compgs: {f}={b}; use 32 (fp32) or 2..16 bits of absmax quantization (the paper uses 16, 8, 4)")
    if cfg.sh_degree not in (0, 1, 2, 3):
        raise ConfigError(f"compgs: sh_degree={cfg.sh_degree}; 3DGS uses 0..3 (3 = 3DGS, 0 = 3DGS-No-SH)")
    if cfg.iterations < 1:
        raise ConfigError(f"compgs: iterations={cfg.iterations} must be >= 1 (paper 30000)")
    if cfg.method in ("compgs", "post_kmeans") and not cfg.quantize.strip():
        raise ConfigError(f"compgs: method={cfg.method} needs codebook groups in quantize (e.g. 'sh,dc,scale,rot'); "
                          "use method 3dgs for no vector quantization")
    if cfg.shared_codebook and cfg.method != "compgs":
        raise ConfigError("compgs: shared_codebook (Fig. 3.5) freezes CompGS codebooks; it needs method: compgs")
    if cfg.shared_codebook and cfg.codebook_scene == cfg.scene:
        raise ConfigError(f"compgs: codebook_scene={cfg.codebook_scene!r} is the trained scene itself; a shared codebook "
                          "comes from another scene (Fig. 3.5: learned on 'Counter', used on the others)")
    if cfg.method == "compgs" and cfg.vq_start >= 30000:
        raise ConfigError(f"compgs: vq_start={cfg.vq_start} leaves no quantization-aware iterations in the 30K schedule "
                          "(paper 20000)")


def load_scene(cfg: CompGSConfig, ctx: Context) -> dict:
    """A generated scene by name, else ``scene`` as a folder (absolute or under data_root): NeRF-synthetic or COLMAP."""
    if cfg.scene in SCENES:
        return make_scene(cfg.scene, ctx.cache_dir, cfg.image_size)
    path = Path(cfg.scene) if Path(cfg.scene).is_absolute() else ctx.data_root / cfg.scene
    gen = torch.Generator().manual_seed(0)
    if (path / "transforms_train.json").is_file():
        size = cfg.image_size or None
        train_v = load_nerf_synthetic(path, "train", image_size=size)
        test_v = load_nerf_synthetic(path, "test", image_size=size)
        n = cfg.n_init or 100_000  # 3DGS: random points in a cube for synthetic scenes
        return {"train": train_v, "test": test_v, "points": (torch.rand(n, 3, generator=gen) * 2.6 - 1.3),
                "colors": torch.rand(n, 3, generator=gen), "background": torch.ones(3)}
    if (path / "sparse").is_dir():
        s = load_colmap(path, max_width=cfg.image_size or 1600, images=cfg.images)
        if cfg.n_init and len(s["points"]) > cfg.n_init:
            keep = torch.randperm(len(s["points"]), generator=gen)[:cfg.n_init]
            s["points"], s["colors"] = s["points"][keep], s["colors"][keep]
        return {**s, "background": torch.zeros(3)}
    raise SceneMissingError(
        f"scene {cfg.scene!r}: {path} is neither a NeRF-synthetic scene (transforms_train.json, transforms_test.json, "
        f"images) nor a COLMAP scene (images/ and sparse/0/cameras|images|points3D .bin or .txt). Generated scenes: "
        f"{', '.join(SCENES)}. Put real scenes under $ORCHESTRATOR_DATA (now {ctx.data_root}) and name the folder.")




def _training_key(cfg: CompGSConfig, seed: int) -> str:
    d = dataclasses.asdict(cfg)
    for k in STORAGE_ONLY:
        d.pop(k)
    if cfg.method != "compgs":  # 3DGS and post-training K-means train the same plain model
        d["method"] = "3dgs"
        for k in VQ_ONLY:
            d.pop(k)
    return hashlib.sha1(json.dumps({**d, "seed": seed}, sort_keys=True).encode()).hexdigest()[:16]


def _groups_and_sizes(cfg: CompGSConfig) -> tuple[dict, dict]:
    if cfg.method == "3dgs":
        return {}, {}
    groups = parse_groups(cfg.quantize, cfg.sh_degree)
    return groups, {g: codebook_size(m, cfg.color_codes, cfg.cov_codes, cfg.pos_codes, cfg.codebook_scale,
                                                  cfg.sh_codes)
                    for g, m in groups.items()}


def trained_model(cfg: CompGSConfig, ctx: Context, backend: str, scene: dict | None = None) -> dict:
    """Train (or reuse the cached result of the same training settings and seed; trials differing only in storage
    share one training, as the paper's post-training baselines do)."""
    key = _training_key(cfg, ctx.seed)
    path = ctx.cache_dir / "compgs" / "trained" / f"{Path(cfg.scene).name}-{key}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return torch.load(path, weights_only=True)  # a cache file never runs code
        scene = scene if scene is not None else load_scene(cfg, ctx)
        groups, sizes = _groups_and_sizes(cfg)
        quantizer = None
        if cfg.method == "compgs":
            quantizer = GroupQuantizer(groups, sizes, vq_schedule(cfg), ctx.seed, cfg.empty_cluster)
            if cfg.shared_codebook:
                src = trained_model(dataclasses.replace(cfg, scene=cfg.codebook_scene, shared_codebook=False,
                                                        benchmark="auto"), ctx, backend)  # the source scene's own label
                quantizer.freeze(src["codebooks"])
        res = train(cfg, scene, quantizer, device=ctx.device, backend=backend, seed=ctx.seed, ctx=ctx, key=key)
        out = {"params": {k: v.detach().cpu() for k, v in res["model"].params.items()}, "train_time_s": res["train_time_s"],
               "codebooks": {g: b.centroids.cpu() for g, b in quantizer.books.items()} if quantizer else {},
               "indices": {g: b.assign.cpu() for g, b in quantizer.books.items()} if quantizer else {}}
        torch.save(out, path)
        return out


def _save_png(img: torch.Tensor, gt: torch.Tensor, path: Path) -> None:
    row = torch.cat([img, gt], 2).clamp(0, 1).permute(1, 2, 0).numpy()
    Image.fromarray((row * 255).round().astype(np.uint8)).save(path)


# Declared (config, metrics) in workloads/compgs/__init__.py; imported only when a trial runs.
def run(cfg: CompGSConfig, ctx: Context) -> None:
    cfg = apply_variant(cfg)
    check_config(cfg)
    groups, sizes = _groups_and_sizes(cfg)
    sort_group = pick_sort_group(groups, cfg.sort_by)
    if cfg.scene in SCENES and not cfg.n_init:
        cfg = dataclasses.replace(cfg, n_init=N_INIT[cfg.scene])
    backend = resolve_backend(cfg.backend, ctx.device)
    scene = load_scene(cfg, ctx)  # fails early, with the layout, when the data is missing
    ctx.record_config(cfg.resolved(ctx).loaded(scene))  # MLflow params: the image width and initial points that ran
    # LPIPS only from a local backbone checkpoint (never downloaded); a missing/wrong file fails here, before training
    lpips_metric = build_lpips(lpips_weights_path(cfg, ctx.data_root), cfg.lpips_net, ctx.device) if cfg.lpips_weights else None
    trained = trained_model(cfg, ctx, backend, scene)
    params = trained["params"]
    if cfg.method == "post_kmeans":
        codebooks, indices = post_training_kmeans(params, groups, sizes, cfg.post_kmeans_iters, ctx.seed,
                                                  cfg.empty_cluster)
    else:
        codebooks, indices = trained["codebooks"], trained["indices"]
    content = to_file_content(params, cfg.sh_degree, groups, codebooks, indices)
    file = ctx.work_dir / "model.cgs"
    sizes_b = save_compressed(file, content, sort_by=sort_group, position_bits=cfg.position_bits,
                              opacity_bits=cfg.opacity_bits, attribute_bits=cfg.attribute_bits)
    loaded = load_compressed(file)  # every reported number comes from the file as read back
    ev = evaluate(renderable(loaded), cfg.sh_degree, scene["test"], scene["background"], backend, ctx.device,
                  cfg.fps_repeats, lpips_metric=lpips_metric)
    n, size = len(loaded), file.stat().st_size
    metrics = {"psnr": ev["psnr"], "ssim": ev["ssim"], "fps": ev["fps"], "num_gaussians": n,
               "num_gaussians_k": n / 1e3, "memory_mb": size / 1e6, "compression": plain_3dgs_bytes(n) / size,
               "mem": 20.0 * size / plain_3dgs_bytes(n), "train_time_min": trained["train_time_s"] / 60,
               "train_time_s": trained["train_time_s"]}
    if "lpips" in ev:
        metrics["lpips"] = ev["lpips"]
    if ev["pairs_per_view"]:
        metrics["render_pairs_k"] = ev["pairs_per_view"] / 1e3
    if groups:
        metrics.update(memory_breakdown(sizes_b))
        metrics.update(code_usage_metrics(loaded.indices, loaded.codebooks))  # Fig. B.1, from the file as read back
    ctx.summary(**metrics)
    png = ctx.work_dir / "test_view.png"
    _save_png(ev["images"][0], scene["test"][0]["image"], png)
    ctx.artifact(png)
    ctx.artifact(file)
