"""The ``slowformer`` workload: build an efficient ViT, learn a universal compute attack on its training set,
measure GFLOPs / top-1 / Attack Success on the test set (dissertation Sec. 4.1, Tables 4.1–4.6)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from filelock import FileLock
from torch.utils.data import Dataset, Subset, TensorDataset

from orchestrator.context import Context
from orchestrator.registry import ConfigError, config_to_dict
from workloads.common.datasets import IMAGENET_MEAN, IMAGENET_STD, dataset_info, load_dataset
from workloads.common.models import build_model, load_checkpoint
from workloads.common.source_model import get_source_model
from workloads.common.training import evaluate
from workloads.slowformer import budgets, losses
from workloads.slowformer.attack import Adversary, dense_paper_gflops, measure, optimise, paper_gflops
from workloads.slowformer.checkpoints import (absent_checkpoint_error, load_adavit_release, load_vit_release,
                                              missing_checkpoint_error)
from workloads.slowformer.compute import dense_flops
from workloads.slowformer.config import SlowFormerConfig
from workloads.slowformer.finetune import finetune, fresh_patch
from workloads.slowformer.halting import gaussian_prior, official_prior
from workloads.slowformer.metrics import attack_success, mean_over_targets, tap_target_classes
from workloads.slowformer.models import ATSViT, AViT, AdaViT
from workloads.slowformer.patch import init_patch_normalized, normalized_to_levels, scaled_patch_size
from workloads.slowformer.plots import save_patch_png, save_token_drop_png
from workloads.slowformer.requirements import resolved

def check_config(cfg: SlowFormerConfig, num_classes: int) -> None:
    """Impossible option combinations, each with its fix."""
    if cfg.epsilon > 0 and cfg.attack != "slowformer":
        raise ConfigError(f"epsilon={cfg.epsilon} asks for an ℓ∞ perturbation, which is only defined for attack=slowformer "
                          f"(Table 4.5), not attack={cfg.attack!r}. Set epsilon: 0 or attack: slowformer.")
    if cfg.epsilon > 0 and cfg.location != "top_left":
        raise ConfigError("a universal perturbation covers the whole image and has no location; drop location: random "
                          "or set epsilon: 0 for a patch attack.")
    if cfg.accuracy != "agnostic" and cfg.attack != "slowformer":
        raise ConfigError(f"accuracy={cfg.accuracy!r} controls the task term of the SlowFormer loss (Table 4.3); with "
                          f"attack={cfg.attack!r} set accuracy: agnostic.")
    if cfg.defense and cfg.method != "avit":
        raise ConfigError(f"the adversarial-training defense (Table 4.6) is defined for A-ViT only; set method: avit or "
                          f"defense: false (method={cfg.method!r}).")
    if cfg.method == "ats" and cfg.efficient_checkpoint:
        raise ConfigError("ATS is parameter-free: it runs on the dense weights. Give the DeiT weights as checkpoint: "
                          "and leave efficient_checkpoint empty.")
    if cfg.tap_target >= num_classes:
        raise ConfigError(f"tap_target={cfg.tap_target} is not a class of a {num_classes}-class data set; use -1 "
                          f"(drawn from the seed) or 0..{num_classes - 1}.")
    if cfg.require_checkpoints and not cfg.checkpoint:
        raise missing_checkpoint_error("checkpoint", cfg.arch, cfg.method)
    if cfg.require_checkpoints and cfg.method in ("avit", "adavit") and not cfg.efficient_checkpoint:
        raise missing_checkpoint_error("efficient_checkpoint", cfg.arch, cfg.method)
    if cfg.avit_prior == "official" and cfg.target_depth and cfg.target_depth != int(cfg.target_depth):
        raise ConfigError(f"target_depth={cfg.target_depth}: the official prior is centred on a 0-based layer index "
                          f"(get_distribution_target's target_depth); give an integer or set avit_prior: paper.")
    if cfg.attack_budget == "official" or cfg.attack_budget == "text":
        try:
            budgets.attack_budget(cfg.method, cfg.arch, cfg.patch_size, cfg.attack_budget)
        except ValueError as e:
            raise ConfigError(f"attack_budget={cfg.attack_budget!r}: {e}") from None
    if cfg.attack_epochs < 0:
        raise ConfigError(f"attack_epochs={cfg.attack_epochs} is negative; give passes over the training set (> 0) or 0 "
                          f"to use attack_steps.")
    if cfg.attack == "tap" and cfg.tap_target < 0 and cfg.tap_targets <= 0:
        raise ConfigError(f"tap_targets={cfg.tap_targets}: the TAP row averages over target classes (the paper: 10); "
                          f"give tap_targets >= 1 or a fixed tap_target.")
    if cfg.patch_size <= 0 or cfg.patch_size > 224:
        raise ConfigError(f"patch_size={cfg.patch_size} must be in 1..224 (224-pixel units, as the paper's 16/32/48/64).")


def resize_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """A-ViT's evaluation transform for small images (UCDvision/SlowFormer avit/datasets.py:121-126): bicubic
    resize to int(256/224 · size) (32 → 256 for 224), then the centre size × size crop (App. C.4, CIFAR-10)."""
    big = int((256 / 224) * size)
    x = F.interpolate(x, size=(big, big), mode="bicubic", align_corners=False).clamp(0, 1)
    top = (big - size) // 2
    return x[..., top:top + size, top:top + size]


def _resized(ds: Dataset, size: int) -> Dataset:
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return TensorDataset(resize_crop(torch.stack(xs), size), torch.as_tensor(ys))


def input_stats(cfg: SlowFormerConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalisation of the attacked model's input: the DeiT / A-ViT / ATS / AdaViT releases and the authors'
    CIFAR-10 fine-tuning normalise every data set with ImageNet's mean and std (avit/datasets.py:129); a small
    ViT trained here uses its data set's."""
    info = dataset_info(cfg.dataset)
    if cfg.arch.startswith(("deit_", "vit_")) and info.channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    return info.mean, info.std


def _cap(ds: Dataset, n: int) -> Dataset:
    return Subset(ds, range(min(n, len(ds)))) if n > 0 else ds


def load_data(cfg: SlowFormerConfig, ctx: Context) -> tuple[Dataset, Dataset, int]:
    info = dataset_info(cfg.dataset)
    n = cfg.n_train or None
    train = load_dataset(cfg.dataset, "train", root=ctx.data_root, cache_dir=ctx.cache_dir, seed=0, n=n)
    test = load_dataset(cfg.dataset, "test", root=ctx.data_root, cache_dir=ctx.cache_dir, seed=0,
                        n=cfg.n_test or n)
    train, test = _cap(train, cfg.n_train), _cap(test, cfg.n_test)
    size = cfg.image_size or info.image_size
    if size != info.image_size:
        train, test = _resized(train, size), _resized(test, size)
    return train, test, size


def dense_model(cfg: SlowFormerConfig, ctx: Context, image_size: int) -> torch.nn.Module:
    info = dataset_info(cfg.dataset)
    kw = dict(embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads, patch_size=cfg.vit_patch) if cfg.arch == "small_vit" else {}
    if not (cfg.arch == "small_vit" or cfg.arch.startswith(("deit_", "vit_"))):
        raise ConfigError(f"arch={cfg.arch!r} is not a ViT; SlowFormer attacks token-dropping ViTs: use small_vit or a "
                          f"timm deit_*/vit_* name such as deit_tiny_patch16_224.")
    if cfg.checkpoint:
        mean, std = input_stats(cfg)
        model = build_model(cfg.arch, info.num_classes, image_size=image_size, in_chans=info.channels,
                            mean=mean, std=std, **kw)
        return load_checkpoint(model, cfg.checkpoint).to(ctx.device).eval()
    if image_size != info.image_size:
        raise ConfigError(f"image_size={image_size} differs from {cfg.dataset}'s {info.image_size}: the dense model is only "
                          f"trained here at the native size. Give checkpoint: a local model trained at {image_size}, or "
                          f"set image_size: 0.")
    return get_source_model(cfg.arch, cfg.dataset, cache_dir=ctx.cache_dir, device=ctx.device, seed=0,
                            epochs=cfg.source_epochs, lr=cfg.source_lr, optimizer="adamw", weight_decay=0.05,
                            batch_size=cfg.source_batch_size, augment=cfg.source_augment,
                            root=ctx.data_root, n_train=cfg.n_train or None, **kw)


def ats_layer_indices(cfg: SlowFormerConfig, depth: int) -> tuple[int, ...]:
    if cfg.ats_layers:
        return tuple(cfg.ats_layers)
    # ATS replaces (1-based) blocks 3..9 of a 12-block DeiT, i.e. 0-based 2..8; same relative span at other depths
    lo, hi = round(3 * depth / 12), round(9 * depth / 12)
    return tuple(range(max(0, lo - 1), min(hi - 1, depth - 1) + 1))


def _prior(cfg: SlowFormerConfig, depth: int) -> torch.Tensor:
    if cfg.avit_prior == "official":
        return official_prior(depth, int(cfg.target_depth) if cfg.target_depth else None)
    return gaussian_prior(depth, cfg.target_depth or 5 * depth / 6)


def _cache_key(cfg: SlowFormerConfig, what: str) -> str:
    keep = ("method", "arch", "dataset", "image_size", "checkpoint", "efficient_checkpoint", "alpha_p", "alpha_d",
            "target_depth", "avit_prior", "adavit_gates", "halt_eps", "gate_scale", "gate_center", "gamma_p", "gamma_h", "gamma_b", "decision_lr_scale",
            "source_epochs", "source_lr", "source_batch_size", "source_augment", "finetune_epochs", "finetune_lr",
            "batch_size", "n_train", "embed_dim", "depth", "num_heads", "vit_patch")
    d = config_to_dict(cfg)
    blob = {k: d[k] for k in keep}
    if what == "defended":
        blob.update({k: d[k] for k in ("defense_epochs", "defense_patch_steps", "defense_patch_lr", "patch_size",
                                        "attack_batch_size", "patch_space", "avit_loss")})
    return what + "-" + hashlib.sha1(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def efficient_model(cfg: SlowFormerConfig, ctx: Context, dense: torch.nn.Module, train: Dataset, image_size: int):
    """A-ViT / AdaViT fine-tuned here from the dense weights and cached, or loaded; ATS wraps the dense model."""
    import copy

    base = copy.deepcopy(dense)
    if cfg.method == "ats":
        return ATSViT(base, ats_layer_indices(cfg, cfg.depth if cfg.arch == "small_vit" else len(base.net.blocks)),
                      cfg.max_tokens, cfg.ats_sampling).to(ctx.device).eval()
    model = (AViT(base, cfg.halt_eps, cfg.gate_scale, cfg.gate_center) if cfg.method == "avit"
             else AdaViT(base, gates=cfg.adavit_gates))
    model.to(ctx.device)
    if cfg.efficient_checkpoint:
        # A-ViT adds no parameters (the halting score is a token dimension): its release loads into the ViT itself
        if cfg.method == "avit":
            load_vit_release(model.vit, cfg.efficient_checkpoint)
        else:
            load_adavit_release(model, cfg.efficient_checkpoint)
        return model.to(ctx.device).eval()
    path = Path(ctx.cache_dir) / "slowformer" / f"{_cache_key(cfg, 'efficient')}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=3600):
        if path.is_file():
            model.load_state_dict(torch.load(path, map_location=ctx.device, weights_only=True))
            return model.eval()
        finetune(model, train, epochs=cfg.finetune_epochs, lr=cfg.finetune_lr, batch_size=cfg.batch_size,
                 device=ctx.device, seed=0, alpha_p=cfg.alpha_p, alpha_d=cfg.alpha_d, prior=_prior(cfg, model.shape.depth),
                 gammas=(cfg.gamma_p, cfg.gamma_h, cfg.gamma_b),
                 decision_lr_scale=cfg.decision_lr_scale, prior_reading=cfg.avit_prior)
        torch.save(model.state_dict(), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
    return model.eval()


def compute_loss_fn(cfg: SlowFormerConfig, model, target: int = -1):
    """The minimised objective of ``cfg.attack`` on ``model`` (SlowFormer per method, or TAP to ``target`` / NTAP)."""
    if cfg.attack in ("tap", "ntap"):
        return lambda logits, y: losses.accuracy_patch_loss(logits, y, cfg.attack, target)
    if cfg.method == "avit":
        prior = _prior(cfg, model.shape.depth).to(next(model.parameters()).device)
        compute = lambda: losses.avit_compute_loss(model.last, prior, cfg.alpha_d, cfg.alpha_p, cfg.halt_eps,
                                                   cfg.avit_loss, cfg.avit_prior)
    elif cfg.method == "adavit":
        compute = lambda: losses.adavit_compute_loss(model.last)
    else:
        weights = cfg.ats_loss_weights or budgets.ats_layer_weights(cfg.arch, len(model.ats_layers), cfg.ats_weights)
        compute = lambda: losses.ats_compute_loss(model.last, weights)
    return lambda logits, y: compute() + losses.task_term(logits, y, cfg.accuracy)


def attack_schedule(cfg: SlowFormerConfig, n_train: int) -> tuple[int, int, float]:
    """(steps, batch size, lr) of the patch optimisation: ``attack_budget``'s per-method values (budgets.py) or
    the config's; epochs become steps over the training set as a DataLoader pass gives them."""
    if cfg.attack_budget in ("official", "text"):
        b = budgets.attack_budget(cfg.method, cfg.arch, cfg.patch_size, cfg.attack_budget)
        return budgets.steps_for_epochs(b.epochs, n_train, b.batch_size, b.drop_last), b.batch_size, b.lr
    steps = (budgets.steps_for_epochs(cfg.attack_epochs, n_train, cfg.attack_batch_size) if cfg.attack_epochs > 0
             else cfg.attack_steps)
    return steps, cfg.attack_batch_size, cfg.attack_lr


def make_adversary(cfg: SlowFormerConfig, ctx: Context, image_size: int, channels: int, seed: int) -> Adversary:
    """The initial patch (also the Random Patch baseline): official U(−0.5, 0.5) in normalised units, floored to
    levels (patch_act.py:26, 32); ``patch_space: pixel`` the text's U[0, 255]."""
    if cfg.epsilon > 0:
        g = torch.Generator().manual_seed(seed)
        init = ((torch.rand(channels, image_size, image_size, generator=g) * 2 - 1) * cfg.epsilon).round()
        return Adversary(init, kind="perturbation", seed=seed)
    size = scaled_patch_size(cfg.patch_size, image_size)
    if cfg.patch_space == "normalized":
        mean, std = input_stats(cfg)
        p = init_patch_normalized(size, channels, generator=torch.Generator().manual_seed(seed))
        values = normalized_to_levels(p, torch.tensor(mean), torch.tensor(std))
        return Adversary(values, location=cfg.location, seed=seed)
    return Adversary(fresh_patch(size, channels, seed), location=cfg.location, seed=seed)


def attacked_metrics(model, attacked: dict) -> dict[str, float]:
    """The metrics of one attacked measurement that the TAP row averages over target classes."""
    out = {"gflops": paper_gflops(model, attacked), "gflops_exact": attacked["gflops"], "top1": attacked["top1"],
           "mean_tokens": float(attacked["tokens"].mean())}
    out.update({f"tokens_l{i + 1}": t for i, t in enumerate(attacked["tokens"].tolist())})
    return out


# Declared (config, metrics) in workloads/slowformer/__init__.py; imported only when a trial runs.
def run(cfg: SlowFormerConfig, ctx: Context) -> None:
    info = dataset_info(cfg.dataset)
    cfg = resolved(cfg, ctx.data_root, ctx.scale)  # paper scale: both victims are files, never trained here
    check_config(cfg, info.num_classes)
    absent = [(what, getattr(cfg, what)) for what in ("checkpoint", "efficient_checkpoint")
              if getattr(cfg, what) and not Path(getattr(cfg, what)).is_file()]
    if absent:
        raise absent_checkpoint_error(absent, cfg.arch, cfg.method, cfg.dataset)
    train, test, size = load_data(cfg, ctx)
    dense = dense_model(cfg, ctx, size)
    model = efficient_model(cfg, ctx, dense, train, size)
    f_max = dense_flops(model.shape) / 2e9
    top1_dense = evaluate(dense, test, device=ctx.device)["accuracy"]
    ctx.progress(1, 4, "efficient model ready")

    if cfg.defense:
        def new_pool_patch(m):
            adv = make_adversary(cfg, ctx, size, info.channels, seed=ctx.seed + 1000 + getattr(m, "_pool", 0))
            m._pool = getattr(m, "_pool", 0) + 1
            # pool patches are compute attacks whatever cfg.attack is (Sec. 4.1.4)
            return optimise(m, adv, train, compute_loss_fn(dataclasses.replace(cfg, attack="slowformer"), m),
                            steps=cfg.defense_patch_steps,
                            lr=cfg.defense_patch_lr, batch_size=cfg.attack_batch_size, device=ctx.device,
                            space=cfg.patch_space)
        path = Path(ctx.cache_dir) / "slowformer" / f"{_cache_key(cfg, 'defended')}.pt"
        with FileLock(str(path) + ".lock", timeout=3600):
            if path.is_file():
                model.load_state_dict(torch.load(path, map_location=ctx.device, weights_only=True))
            else:
                finetune(model, train, epochs=cfg.defense_epochs, lr=cfg.finetune_lr, batch_size=cfg.batch_size,
                         device=ctx.device, seed=0, alpha_p=cfg.alpha_p, alpha_d=cfg.alpha_d,
                         prior=_prior(cfg, model.shape.depth), gammas=(cfg.gamma_p, cfg.gamma_h, cfg.gamma_b),
                         decision_lr_scale=cfg.decision_lr_scale, defense=new_pool_patch, prior_reading=cfg.avit_prior)
                torch.save(model.state_dict(), path.with_suffix(".tmp"))
                path.with_suffix(".tmp").replace(path)
                path.with_suffix(".json").write_text(json.dumps({"defense_pool_size": model.defense_pool_size}))
            model.defense_pool_size = json.loads(path.with_suffix(".json").read_text())["defense_pool_size"]
        model.eval()

    clean = measure(model, test, device=ctx.device, batch_size=cfg.batch_size)
    ctx.progress(2, 4, "clean efficient model measured")
    steps, attack_batch, attack_lr = attack_schedule(cfg, len(train))
    targets = [-1]
    if cfg.attack == "tap":
        targets = [cfg.tap_target] if cfg.tap_target >= 0 else tap_target_classes(info.num_classes, cfg.tap_targets, ctx.seed)
    per_target, adversary, attacked = [], None, clean
    for k, target in enumerate(targets):  # TAP: one patch per target class, the row is their mean
        if cfg.attack != "none":
            adversary = make_adversary(cfg, ctx, size, info.channels, ctx.seed)
            if cfg.attack != "random":
                optimise(model, adversary, train, compute_loss_fn(cfg, model, target), steps=steps, lr=attack_lr,
                         batch_size=attack_batch, device=ctx.device, epsilon=cfg.epsilon, space=cfg.patch_space,
                         progress=lambda s, l: ctx.report(step=k * steps + s, attack_loss=l) if s % 10 == 0 else None)
            attacked = measure(model, test, device=ctx.device, batch_size=cfg.batch_size, adversary=adversary)
        per_target.append(attacked_metrics(model, attacked))
    ctx.progress(3, 4, "attack optimised")
    f_min = clean["gflops"]
    # two GFLOPs conventions: "exact" charges every image what it ran; "paper" is the authors' code's count
    # from mean token counts (the published GFLOPs and Attack Success use it, so the tables' attack_success does)
    p_min, p_max = paper_gflops(model, clean), dense_paper_gflops(model)
    summary = {**mean_over_targets(per_target), "gflops_clean": p_min, "gflops_dense": p_max,
               "gflops_clean_exact": f_min, "gflops_dense_exact": f_max, "top1_clean": clean["top1"],
               "top1_dense": top1_dense, "mean_tokens_clean": float(clean["tokens"].mean()),
               "attack_steps_run": float(steps * len(targets) if cfg.attack not in ("none", "random") else 0)}
    if cfg.attack == "tap":
        summary["tap_targets_averaged"] = float(len(targets))
    p_att = summary["gflops"]
    if cfg.defense:
        summary["defense_pool_size"] = float(getattr(model, "defense_pool_size", 0))
    if p_max > p_min:
        summary["attack_success"] = attack_success(p_att, p_min, p_max)
    if f_max > f_min:
        summary["attack_success_exact"] = attack_success(summary["gflops_exact"], f_min, f_max)
    ctx.summary(**summary)
    if adversary is not None:
        ctx.artifact(save_patch_png(adversary.values if adversary.kind == "patch" else adversary.values + 128,
                                    ctx.work_dir / "adversary.png"))
        grid = int(round(model.shape.num_patches ** 0.5))
        ctx.artifact(save_token_drop_png(clean["example"], attacked["example"], grid, ctx.work_dir / "token_drop.png"))
    ctx.progress(4, 4, "done")
