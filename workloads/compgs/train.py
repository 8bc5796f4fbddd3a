"""3DGS / CompGS training loop (dissertation Sec. 3.1 implementation details; 3DGS schedule scaled by ``cfg.at``).

The loop counts iterations from 0 (``it``); the opacity regulariser and its pruning are decided on the 1-based
``it + 1``, the count compact3d's train_kmeans.py uses (l.91), so their windows land on the same iterations.

Per iteration: render one training view (quantized attributes with STE once VQ has started), loss
L1 + 0.2 D-SSIM (+ lambda_reg * sum opacity inside the regularisation window), Adam step. Density control
(clone/split by mean view-space gradient, opacity reset, pruning) runs until ``densify_until``; opacity pruning
every ``reg_prune_interval`` inside the regularisation window.
"""
from __future__ import annotations

import math
import time

import torch

from workloads.compgs.config import CompGSConfig
from workloads.compgs.groups import GroupQuantizer
from workloads.compgs.kmeans import init_centroids, kmeans
from workloads.compgs.losses import opacity_l1, photometric_loss
from workloads.compgs.model import GaussianModel
from workloads.compgs.quantizer import VQSchedule
from workloads.compgs.render_backend import render_view


# Adam steps between an opacity reset (to 0.01) and the next opacity pruning in 3DGS (one densification interval):
# not scaled with the schedule, because opacities need that many steps to climb back above min_opacity.
RESET_RECOVERY_STEPS = 100


def learning_rates(cfg: CompGSConfig, extent: float) -> dict[str, float]:
    return {"pos": cfg.lr_position * extent, "dc": cfg.lr_dc, "sh": cfg.lr_sh, "opacity": cfg.lr_opacity,
            "scale": cfg.lr_scale, "rot": cfg.lr_rot}


def position_lr(cfg: CompGSConfig, extent: float, it: int) -> float:
    """3DGS exponential decay from lr_position to lr_position_final (log-linear) over the run."""
    t = min(max(it / max(cfg.iterations, 1), 0.0), 1.0)
    return extent * math.exp((1 - t) * math.log(cfg.lr_position) + t * math.log(cfg.lr_position_final))


def in_reg_window(iteration: int, start: int, end: int) -> bool:
    """Whether the opacity l1 term (Sec. 3.1, "from iterations 15K to 20K") is in the loss at the 1-based
    ``iteration``: compact3d's train_kmeans.py l.159-163 drops it when ``iteration > max_prune_iter or
    iteration < 15000``, so both ends are included."""
    return start <= iteration <= end


def is_reg_prune_iteration(iteration: int, start: int, end: int, every: int) -> bool:
    """Whether opacity pruning runs at the 1-based ``iteration`` (Sec. 3.1: "pruning every 1000 iterations"):
    compact3d's train_kmeans.py l.221-222 prunes when ``iteration > 15000``, ``iteration <= max_prune_iter``
    and ``iteration % 1000 == 0`` (16K, 17K, ..., 20K)."""
    return start < iteration <= end and iteration % every == 0


def vq_schedule(cfg: CompGSConfig) -> VQSchedule:
    return VQSchedule(vq_start=cfg.at(cfg.vq_start), assign_end=cfg.at(cfg.assign_end), freq=cfg.every(cfg.kmeans_freq),
                      iters=cfg.kmeans_iters)


def scene_extent(cameras: list[dict]) -> float:
    """1.1 x the largest camera distance from the cameras' mean centre (3DGS ``getNerfppNorm``)."""
    centres = torch.stack([torch.linalg.inv(c["world_to_cam"])[:3, 3] for c in cameras])
    return 1.1 * float((centres - centres.mean(0)).norm(dim=1).max().clamp_min(1e-3))


def train(cfg: CompGSConfig, scene: dict, quantizer: GroupQuantizer | None, *, device: torch.device, backend: str,
          seed: int, ctx=None, key: str = "") -> dict:
    """Train from ``scene['points']``; returns dict(model, quantizer, train_time_s, extent).

    ``key`` names this training in checkpoints: a trial that trains twice (Fig. 3.5 learns the shared codebook
    first) must never resume one training from the other's checkpoint.
    """
    views = scene["train"]
    extent = scene_extent([v["camera"] for v in views])
    lrs = learning_rates(cfg, extent)
    gen = torch.Generator().manual_seed(seed)
    bg = scene["background"].to(device)
    state = ctx.restore() if ctx is not None else None
    if state is not None and state.get("kind") == "compgs-train" and state.get("key") == key:
        model = GaussianModel.from_state(state["model"], lrs, device)
        if quantizer is not None and state["quantizer"]:
            quantizer.load_state_dict(state["quantizer"])
        start, elapsed = state["it"], state["elapsed"]
        gen.set_state(state["rng"])
    else:
        model = GaussianModel.from_points(scene["points"], scene["colors"], cfg.sh_degree, device)
        model.make_optimizer(lrs)
        start, elapsed = 0, 0.0
    accum = torch.zeros(len(model))
    denom = torch.zeros(len(model))
    t0 = time.perf_counter() - elapsed
    ckpt_every = cfg.checkpoint_every or max(1, cfg.iterations // 10)
    lam = cfg.lambda_reg * 1e-7 * cfg.reg_multiplier
    reg_lo, reg_hi, reg_every = cfg.at(cfg.reg_start), cfg.at(cfg.reg_end), cfg.every(cfg.reg_prune_interval)
    d_from, d_until, d_every = cfg.at(cfg.densify_from), cfg.at(cfg.densify_until), cfg.every(cfg.densify_interval)
    reset_every = cfg.every(cfg.opacity_reset_interval)
    order = torch.randperm(len(views), generator=gen)
    last_reset = -RESET_RECOVERY_STEPS
    for it in range(start, cfg.iterations):
        if it % len(views) == 0:
            order = torch.randperm(len(views), generator=gen)
        view = views[int(order[it % len(views)])]
        model.set_lr("pos", position_lr(cfg, extent, it))
        degree = min(cfg.sh_degree, it // cfg.every(cfg.sh_interval))
        attrs = dict(model.params)
        if quantizer is not None:
            attrs = quantizer(attrs, it)
        out = render_view(attrs, degree, view["camera"], bg, backend)
        loss = photometric_loss(out["image"], view["image"].to(device))
        if lam > 0 and in_reg_window(it + 1, reg_lo, reg_hi):
            loss = loss + lam * opacity_l1(model.params["opacity"][:, 0])
        model.opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            if it < d_until:
                g = out["mean2d_view"]()
                if g is not None:
                    cam = view["camera"]
                    # 3DGS thresholds the gradient w.r.t. NDC coordinates: pixels x (W/2, H/2)
                    g_ndc = g.detach().cpu() * torch.tensor([cam["width"] / 2, cam["height"] / 2])
                    vis = out["visible"].cpu()
                    accum[vis] += g_ndc[vis].norm(dim=1)
                    denom[vis] += 1
                if it > d_from and it % d_every == 0:
                    recovering = it - last_reset < RESET_RECOVERY_STEPS
                    model.densify_and_prune(accum / denom.clamp_min(1), cfg.grad_threshold * cfg.grad_multiplier,
                                            cfg.percent_dense, extent, 0.0 if recovering else cfg.min_opacity, gen,
                                            cfg.max_gaussians)
                if it > 0 and it % reset_every == 0:
                    model.reset_opacity()
                    last_reset = it
            if lam > 0 and is_reg_prune_iteration(it + 1, reg_lo, reg_hi, reg_every):
                model.prune_transparent(cfg.min_opacity)
            if len(model) != accum.numel():
                accum, denom = torch.zeros(len(model)), torch.zeros(len(model))
            model.opt.step()
        if ctx is not None:
            if it % max(1, cfg.iterations // 20) == 0 or it == cfg.iterations - 1:
                ctx.report(step=it, loss=loss.item(), num_gaussians=len(model))
                ctx.progress(it + 1, cfg.iterations, "train")
            if (it + 1) % ckpt_every == 0 and it + 1 < cfg.iterations:
                ctx.checkpoint({"kind": "compgs-train", "key": key, "it": it + 1, "model": model.state_dict(),
                                "quantizer": quantizer.state_dict() if quantizer else None,
                                "elapsed": time.perf_counter() - t0, "rng": gen.get_state()})
    if quantizer is not None and quantizer.groups and quantizer.sched.quantize_now(cfg.iterations - 1):
        # the final codebook follows the last parameter update (centroids are refreshed every iteration)
        quantizer({k: v.detach() for k, v in model.params.items()}, cfg.iterations - 1)
    return {"model": model, "quantizer": quantizer, "train_time_s": time.perf_counter() - t0, "extent": extent}


def post_training_kmeans(params: dict[str, torch.Tensor], groups: dict[str, list[str]], sizes: dict[str, int],
                         iters: int, seed: int, empty: str = "zero") -> tuple[dict, dict]:
    """Table 3.2 'Post-train K-means': cluster each group of a trained 3DGS model once, no fine-tuning."""
    codebooks, indices = {}, {}
    for i, (g, members) in enumerate(groups.items()):
        x = torch.cat([params[m].detach().cpu() for m in members], 1)
        init = init_centroids(x, sizes[g], torch.Generator().manual_seed(seed + i))
        codebooks[g], indices[g] = kmeans(x, init, iters, empty)
    return codebooks, indices
