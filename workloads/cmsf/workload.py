"""The ``cmsf`` workload: BYOL / MSF / CMSF_self / CMSF_sup / CMSF_semi pre-training and kNN/linear evaluation."""
from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from orchestrator.context import Context
from orchestrator.registry import ConfigError
from workloads.cmsf.augment import small_crops, two_view_augment
from workloads.cmsf.compute import RESNET50_FORWARD_FLOPS, cmsf_crops, minibatch_passes, training_compute
from workloads.cmsf.config import CmsfConfig
from workloads.cmsf.curves import curve_summary
from workloads.cmsf.data import Indexed, dataset_labels, load_split
from workloads.cmsf.diagnostics import purity, purity_top_m, rank_in_bank
from workloads.cmsf.evaluation import balanced_subset, embed, finetune_accuracy, knn_and_linear, lowshot_linear
from workloads.cmsf.labels import coarse_labels, corrupt_labels
from workloads.cmsf.losses import mean_shift_loss
from workloads.cmsf.momentum import momentum_update
from workloads.cmsf.neighbours import (constrained_topk, label_constraint_topk, masked_similarities,
                                       relax_to_unconstrained, self_constraint, topk_positions)
from workloads.cmsf.networks import Encoder, build_backbone, mlp
from workloads.cmsf.plots import plot_rank_curve
from workloads.cmsf.pseudo_labels import build_pseudo_labeller, confident_pseudo_labels, train_pseudo_labeller
from workloads.cmsf.requirements import coarse_map_file
from workloads.cmsf.target_queue import TargetQueue
from workloads.common.datasets import dataset_info
from workloads.common.flops import gflops_per_image

SMALL = ("smoke", "mini")


def resolve(cfg: CmsfConfig, scale: str, n_train: int) -> CmsfConfig:
    """Fill the ``auto`` (0 / "auto") fields from the scale, and reject impossible combinations."""
    small = scale in SMALL
    topk = cfg.topk or {"byol": 1, "msf": 5, "cmsf_self": 5, "cmsf_sup": 10, "cmsf_semi": 10}[cfg.method]
    if cfg.method == "byol" and topk != 1:
        raise ConfigError(f"method=byol is CMSF with k=1 (Sec. 2.1.3) but topk={cfg.topk}; use method=msf for k>1.")
    if cfg.top_all and cfg.method != "cmsf_sup":
        raise ConfigError("top_all=true only applies to method=cmsf_sup (S_i = C_i, same-label set); "
                          f"got method={cfg.method}. Remove top_all or set method=cmsf_sup.")
    if (cfg.label_noise or cfg.coarse) and cfg.method != "cmsf_sup":
        raise ConfigError(f"label_noise/coarse are options of the supervised study (method=cmsf_sup); got "
                          f"method={cfg.method}. Set method=cmsf_sup or drop them.")
    if cfg.method == "cmsf_semi" and not 0.0 < cfg.labelled_fraction < 1.0:
        raise ConfigError(f"cmsf_semi needs 0 < labelled_fraction < 1, got {cfg.labelled_fraction}.")
    if cfg.multi_crop < 0:
        raise ConfigError(f"multi_crop is a number of extra crops (0 or more; the paper's multi-crop row uses 4), "
                          f"got {cfg.multi_crop}.")
    return replace(
        cfg, topk=topk, k_prime=cfg.k_prime or topk,
        arch=("small_cnn" if small else "resnet50") if cfg.arch == "auto" else cfg.arch,
        epochs=cfg.epochs or {"smoke": 2, "mini": 30, "paper": 200}[scale],
        batch_size=cfg.batch_size or {"smoke": 32, "mini": 64, "paper": 256}[scale],
        memory_size=cfg.memory_size or (n_train if small else 128000),
        proj_hidden=cfg.proj_hidden or {"smoke": 64, "mini": 256, "paper": 4096}[scale],
        proj_dim=cfg.proj_dim or {"smoke": 32, "mini": 64, "paper": 512}[scale],
        linear_epochs=cfg.linear_epochs or (5 if scale == "smoke" else 40),
        finetune_epochs=cfg.finetune_epochs or (2 if scale == "smoke" else 20),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainer:
    """Holds the networks, memory bank and per-image label state; ``step`` is one iteration of Sec. 2.1.3."""

    def __init__(self, cfg: CmsfConfig, ctx: Context, info, true_labels: torch.Tensor, num_steps: int):
        self.cfg, self.ctx, self.dev = cfg, ctx, ctx.device
        # smoke checks the code paths, not accuracy: a width-8 CNN keeps each CI trial to a couple of seconds
        kw = {"width": 8} if cfg.arch == "small_cnn" and ctx.scale == "smoke" else {}
        backbone = build_backbone(cfg.arch, num_classes=info.num_classes, image_size=info.image_size,
                                  in_chans=info.channels, mean=info.mean, std=info.std, **kw)
        self.online = Encoder(backbone, cfg.proj_hidden, cfg.proj_dim).to(self.dev)
        self.predictor = mlp([cfg.proj_dim, cfg.proj_hidden, cfg.proj_dim]).to(self.dev)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        params = list(self.online.parameters()) + list(self.predictor.parameters())
        self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, max(num_steps, 1))
        n = true_labels.numel()
        self.bank = TargetQueue(cfg.memory_size, cfg.proj_dim, num_images=n, init=cfg.bank_init, seed=ctx.seed,
                                device=self.dev)
        self.true = true_labels.to(self.dev)
        self.constraint = self._constraint_labels(true_labels, info.num_classes).to(self.dev)
        self.labelled = self._labelled_mask(n).to(self.dev)
        # CMSF_semi: the latest target embedding u of every labelled image (the authors' sup_queue)
        self.labelled_feats = torch.zeros(n, cfg.proj_dim, device=self.dev)
        self.labelled_seen = torch.zeros(n, dtype=torch.bool, device=self.dev)
        # the authors' pseudo-labeller exists (randomly initialised) from the first step and is kept across rounds
        self.classifier = (build_pseudo_labeller(cfg.proj_dim, info.num_classes, cfg.pseudo_classifier,
                                                 cfg.pseudo_knn_k).to(self.dev).eval()
                           if cfg.method == "cmsf_semi" else None)
        self.train_images = None      # the training set, for pseudo_cache=offline (set by run)
        self.pseudo_gen = torch.Generator().manual_seed(ctx.seed + 7)
        self.num_classes = info.num_classes
        self.gen = torch.Generator().manual_seed(ctx.seed)
        self.nn_seconds = 0.0
        self.step_seconds = 0.0
        # diagnostics of the current epoch (Fig. 2.5); reset by the loop at every epoch
        self.ranks: list[float] = []
        self.purity_c: list[float] = []
        self.purity_m: list[float] = []
        self.purity_top_m: list[float] = []
        # Fig. A.1: accuracy of the confident pseudo-labels of unlabelled queries, and the share that is confident
        self.pseudo_hits, self.pseudo_confident, self.pseudo_unlabelled = 0, 0, 0

    def _constraint_labels(self, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
        cfg = self.cfg
        if cfg.method != "cmsf_sup":
            return labels.clone()
        coarse_map = coarse_map_file(cfg, self.ctx.data_root)  # relative: under the data root
        out = coarse_labels(labels, cfg.dataset, coarse_map) if cfg.coarse else labels.clone()
        if cfg.label_noise > 0:
            out = corrupt_labels(out, cfg.label_noise, int(out.max()) + 1, seed=self.ctx.seed + 1)
        return out

    def _labelled_mask(self, n: int) -> torch.Tensor:
        if self.cfg.method != "cmsf_semi":
            return torch.ones(n, dtype=torch.bool)
        g = torch.Generator().manual_seed(1000 + self.ctx.seed)
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.randperm(n, generator=g)[: max(1, int(round(self.cfg.labelled_fraction * n)))]] = True
        return mask

    def refresh_pseudo_labeller(self) -> None:
        """One more round of the kept pseudo-labeller on the cached labelled embeddings (mid-epoch and at the
        end of each epoch, Sec. 2.1.3.3; the authors' train_pseudo_cmsf.py l.235-242 and l.281-285)."""
        if self.cfg.pseudo_cache == "offline":
            # Table A.6 "offline": embed every labelled image with the current target encoder (the authors'
            # get_feats branch of pseudo_label_train.py l.18-20, un-augmented images)
            seen = self.labelled.nonzero().flatten()
            feats, _ = embed(self.target, Subset(self.train_images, seen.tolist()), self.dev)
            feats = F.normalize(feats.to(self.dev), dim=1)
        else:
            seen = self.labelled_seen.nonzero().flatten()
            feats = self.labelled_feats[seen]
        if seen.numel() < 2:                       # BatchNorm needs two samples
            return
        with torch.enable_grad():
            train_pseudo_labeller(self.classifier, feats, self.true[seen],
                                  epochs=self.cfg.pseudo_epochs, lr=self.cfg.pseudo_lr, generator=self.pseudo_gen)

    def _query_labels(self, idx: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        if self.cfg.method == "cmsf_sup":
            return self.constraint[idx]
        pseudo = confident_pseudo_labels(self.classifier, u, self.cfg.pseudo_threshold)
        unlab = ~self.labelled[idx]
        conf = unlab & (pseudo >= 0)
        # the authors' acc of pseudo_cmsf.py l.270-278: accuracy over the confident unlabelled queries only
        self.pseudo_hits += int((pseudo[conf] == self.true[idx][conf]).sum())
        self.pseudo_confident += int(conf.sum())
        self.pseudo_unlabelled += int(unlab.sum())
        return torch.where(self.labelled[idx], self.true[idx], pseudo)

    def select(self, u: torch.Tensor, idx: torch.Tensor, own: torch.Tensor, query_labels: torch.Tensor | None):
        """Similarities to M and S_i for the loss terms of this step: (sims, [(idx, valid) per term]).
        ``own`` (B,) are the queries' own positions in M (written just before, as in the authors' code)."""
        cfg, bank = self.cfg, self.bank
        # Table A.10(d): u_i still picks the neighbours but its own entry is not one of them (k - 1 others)
        k = cfg.topk if cfg.include_target else cfg.topk - 1
        sims = masked_similarities(u, bank.feats, bank.searchable(), None if cfg.include_target else own.view(-1, 1))
        if cfg.method in ("byol", "msf"):
            return sims, [topk_positions(sims, k)]
        if cfg.method == "cmsf_self":
            w, w_ok = bank.previous(idx)
            prime, prime_ok = bank.previous_bank()
            # "others": k' neighbours besides the own entry, which M' always ranks first (M'[own] = w_i)
            size = cfg.k_prime + (1 if cfg.k_prime_reading == "others" else 0)
            cand = self_constraint(w, prime, prime_ok, size)
            msf = topk_positions(sims, k)
            # bank_init=empty: no previous visit yet (first epoch) -> C_i = M, the CMSF term equals the MSF term
            con = relax_to_unconstrained(*constrained_topk(sims, cand, k), *msf, ~w_ok)
            return sims, [msf, con]
        con = label_constraint_topk(sims, bank.labels, query_labels, None if cfg.top_all else k)
        if cfg.method == "cmsf_sup":
            return sims, [con]
        return sims, [relax_to_unconstrained(*con, *topk_positions(sims, k), query_labels < 0)]

    def step(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, step: int) -> float:
        cfg = self.cfg
        _sync(self.dev)
        t0 = time.perf_counter()
        x, idx = x.to(self.dev), idx.to(self.dev)
        t1 = two_view_augment(x, self.gen, strength=cfg.augment, flip=cfg.dataset not in ("digits",))
        t2 = two_view_augment(x, self.gen, strength=cfg.augment, flip=cfg.dataset not in ("digits",))
        with torch.no_grad():
            u = F.normalize(self.target(t1), dim=1)
        views = [F.normalize(self.predictor(self.online(t2)), dim=1)]
        if cfg.multi_crop:
            # the multi-crop variant: the small crops go through the online encoder only, each regressed to the
            # same S_i as the main view (Sec. 2.1.4)
            for crop in small_crops(x, cfg.multi_crop, cfg.multi_crop_size, self.gen, strength=cfg.augment,
                                    flip=cfg.dataset not in ("digits",)):
                views.append(F.normalize(self.predictor(self.online(crop)), dim=1))
        if cfg.method == "cmsf_semi":
            lab_rows = self.labelled[idx]
            self.labelled_feats[idx[lab_rows]] = u[lab_rows]
            self.labelled_seen[idx[lab_rows]] = True
        query_labels = self._query_labels(idx, u) if cfg.method in ("cmsf_sup", "cmsf_semi") else None
        # the batch enters M before the search (text Sec. 2.1.3 and the authors' code agree)
        own = self.bank.enqueue(u, idx, query_labels if query_labels is not None else self.true[idx])
        _sync(self.dev)
        t_nn = time.perf_counter()
        with torch.no_grad():
            sims, sets = self.select(u, idx, own, query_labels)
        _sync(self.dev)
        self.nn_seconds += time.perf_counter() - t_nn
        # CMSF_self: the constrained and the MSF term, equally weighted (their mean, as in the authors' code)
        loss = sum(mean_shift_loss(v, self.bank.feats, i, ok, fallback=u) for v in views for i, ok in sets) / (
            len(sets) * len(views))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        momentum_update(self.target, self.online, cfg.momentum, copy_buffers=cfg.target_bn == "copy")
        if cfg.diagnostics_every and step % cfg.diagnostics_every == 0 and cfg.topk >= 5:
            self._diagnose(sims, idx, own, sets[-1])
        _sync(self.dev)
        self.step_seconds += time.perf_counter() - t0
        return float(loss.detach())

    @torch.no_grad()
    def _diagnose(self, sims, idx, own, chosen) -> None:
        """Purity of S_i from C vs from M, and rank in M of the 5th element of S_i (Table 2.1-Right, Fig. 2.5)."""
        bank_img = self.bank.index
        truth_bank = torch.where(bank_img >= 0, self.true[bank_img.clamp(min=0)], torch.full_like(bank_img, -1))
        ci, cv = chosen
        m = topk_positions(sims, self.cfg.topk)
        p_c, p_m = purity(self.true[idx], truth_bank, ci, cv, own), purity(self.true[idx], truth_bank, *m, own)
        if not math.isnan(p_c):
            self.purity_c.append(p_c)
        if not math.isnan(p_m):
            self.purity_m.append(p_m)
        ranks = rank_in_bank(sims, ci, cv, which=5)
        self.ranks += ranks.tolist()
        if ranks.numel():
            # Fig. 2.5's green curve: purity of the top-m of M, m = median rank of the 5th element of C
            m = int(ranks.median().item())
            self.purity_top_m.append(purity_top_m(sims, own, self.true[idx], truth_bank, m))


def compute_metrics(cfg: CmsfConfig, ctx: Context, backbone, info, iters_per_epoch: int, steps: int) -> dict[str, float]:
    """Table A.11's columns for this run by Eq. A.1 (``workloads.cmsf.compute``): crops per image, batch, passes
    per mini-batch, iterations, total passes (x1e8) and training FLOPs (x1e18) of the backbone."""
    fwd, bwd = cmsf_crops(cfg.multi_crop, cfg.multi_crop_size, info.image_size)
    mb_fwd, mb_bwd = minibatch_passes(fwd, bwd, cfg.batch_size)
    per_pass = cfg.forward_flops or (RESNET50_FORWARD_FLOPS if ctx.scale == "paper" else
                                     1e9 * gflops_per_image(backbone, (info.channels, info.image_size, info.image_size),
                                                            ctx.device))
    total = training_compute(mb_fwd, mb_bwd, steps, per_pass)
    return {"crops_fwd": fwd, "crops_bwd": bwd, "batch": float(cfg.batch_size), "minibatch": mb_fwd + mb_bwd,
            "iters_per_epoch": float(iters_per_epoch),
            "train_epochs": steps / max(iters_per_epoch, 1), "total_pass_1e8": total["total_passes"] / 1e8,
            "train_flops_1e18": total["total_flops"] / 1e18, "forward_gflops": per_pass / 1e9}


def epoch_point(tr: "Trainer", epoch: int) -> dict[str, Any]:
    """The diagnostics of one epoch (Fig. 2.5, Fig. A.1); empty when nothing was measured."""
    point: dict[str, Any] = {}
    if tr.ranks:
        point["rank5_median"] = statistics.median(tr.ranks)
    for key in ("purity_c", "purity_m", "purity_top_m"):
        if getattr(tr, key):
            point[key] = statistics.fmean(getattr(tr, key))
    if tr.pseudo_unlabelled:
        point["pseudo_conf_share"] = 100 * tr.pseudo_confident / tr.pseudo_unlabelled
        if tr.pseudo_confident:
            point["pseudo_acc"] = 100 * tr.pseudo_hits / tr.pseudo_confident
    return {"epoch": epoch, **point} if point else {}


CURVE_KEYS = ("rank5_median", "purity_c", "purity_m", "purity_top_m", "pseudo_acc", "pseudo_conf_share")


# Declared (config, metrics) in workloads/cmsf/__init__.py; imported only when a trial runs.
def run(cfg: CmsfConfig, ctx: Context) -> None:
    train_ds, test_ds = load_split(cfg.dataset, ctx, cfg.n_train)
    info = dataset_info(cfg.dataset)
    cfg = resolve(cfg, ctx.scale, len(train_ds))
    cfg = replace(cfg, multi_crop_size=cfg.multi_crop_size or max(2, round(info.image_size * 96 / 224)))
    ctx.record_config(cfg)  # MLflow params: the resolved values (memory_size needs the data: recorded here)
    true_labels = dataset_labels(train_ds)
    loader = DataLoader(Indexed(train_ds), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(ctx.seed))
    if len(loader) == 0:
        raise ConfigError(f"batch_size={cfg.batch_size} exceeds the {len(train_ds)} training images of "
                          f"{cfg.dataset}; lower batch_size.")
    total = cfg.epochs * len(loader)
    if cfg.steps:
        total = min(total, cfg.steps)
    tr = Trainer(cfg, ctx, info, true_labels, total)
    tr.train_images = train_ds
    if cfg.compute_only:
        ctx.summary(**compute_metrics(cfg, ctx, tr.online.backbone, info, len(loader), total))
        return
    step, curve = 0, []
    ckpt_every = cfg.checkpoint_every or (1 if ctx.scale == "paper" else 0)
    state = ctx.restore()
    start_epoch = 0
    if state:
        tr.online.load_state_dict(state["online"]); tr.predictor.load_state_dict(state["predictor"])
        tr.target.load_state_dict(state["target"]); tr.opt.load_state_dict(state["opt"])
        tr.sched.load_state_dict(state["sched"]); start_epoch, step = state["epoch"], state["step"]
    for epoch in range(start_epoch, cfg.epochs):
        tr.ranks, tr.purity_c, tr.purity_m, tr.purity_top_m = [], [], [], []
        tr.pseudo_hits = tr.pseudo_confident = tr.pseudo_unlabelled = 0
        half = len(loader) // 2
        for b, (x, y, idx) in enumerate(loader):
            if step >= total:
                break
            loss = tr.step(x, y, idx, step)
            step += 1
            if cfg.method == "cmsf_semi" and b + 1 == half:
                tr.refresh_pseudo_labeller()
            if step % 10 == 0:
                ctx.report(step=step, loss=loss)
        if cfg.method == "cmsf_semi":
            tr.refresh_pseudo_labeller()
        point = epoch_point(tr, epoch + 1)
        if point:
            curve.append(point)
            ctx.report(step=step, **{k: v for k, v in point.items() if k != "epoch"})
        ctx.progress(epoch + 1, cfg.epochs, "cmsf epochs")
        if ckpt_every and (epoch + 1) % ckpt_every == 0:
            ctx.checkpoint({"online": tr.online.state_dict(), "predictor": tr.predictor.state_dict(),
                            "target": tr.target.state_dict(), "opt": tr.opt.state_dict(),
                            "sched": tr.sched.state_dict(), "epoch": epoch + 1, "step": step})
        if step >= total:
            break
    # the authors' eval_knn.py / eval_linear.py load encoder_q: the online backbone, with its own BN statistics
    backbone = tr.online.backbone if cfg.eval_encoder == "online" else tr.target.backbone
    eval_train = embed(backbone, train_ds, ctx.device)
    eval_test = embed(backbone, test_ds, ctx.device)
    metrics = knn_and_linear(eval_train, eval_test, num_classes=info.num_classes,
                             linear_epochs=cfg.linear_epochs, seed=ctx.seed)
    if cfg.lowshot or cfg.finetune:
        metrics.update(lowshot_linear(eval_train, eval_test, linear_epochs=cfg.linear_epochs, seed=ctx.seed))
    if cfg.finetune:
        # CMSF_semi fine-tunes on its own labelled images; the other methods on the class-balanced 10 % of Table 2.4
        labelled = (tr.labelled.nonzero().flatten().cpu() if cfg.method == "cmsf_semi"
                    else balanced_subset(true_labels, 0.1, ctx.seed))
        metrics["finetune_10pct"] = finetune_accuracy(
            backbone, backbone.dim, train_ds, labelled, test_ds, num_classes=info.num_classes,
            hidden=cfg.proj_hidden, epochs=cfg.finetune_epochs, device=ctx.device, seed=ctx.seed)
    metrics.update(compute_metrics(cfg, ctx, tr.online.backbone, info, len(loader), step))
    metrics.update(final_loss=loss, steps=float(step), step_ms=1000 * tr.step_seconds / max(step, 1),
                   nn_share=100 * tr.nn_seconds / max(tr.step_seconds, 1e-12))
    if curve:
        # the table reads the last epoch's diagnostics; the figures read them at shares of training
        metrics.update({k: v for k, v in curve[-1].items() if k != "epoch"})
        metrics.update(curve_summary(curve, cfg.epochs, CURVE_KEYS))
    if any("rank5_median" in p for p in curve):
        png = ctx.work_dir / "fig2.5_purity_rank.png"
        plot_rank_curve([p for p in curve if "rank5_median" in p], png, title=f"{cfg.method}: purity of S from C / M, median rank m of the 5th of C")
        ctx.artifact(png)
    ctx.summary(**metrics)
