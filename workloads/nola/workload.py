"""The ``nola`` workload: few-shot ViT adaptation, training from scratch, and Fig. 3.7 subspace coverage."""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from orchestrator.context import Context
from orchestrator.registry import ConfigError
from workloads.nola.adapted import AdaptedLayer
from workloads.nola.config import NolaConfig
from workloads.nola.fewshot import kshot_per_class, sample_few_shot
from workloads.nola.fewshot_transfer import as_unit_float, transfer_fewshot
from workloads.nola.inject import AdapterSpec, inject_adapters, trainable_count
from workloads.nola.loop import accuracy, fit
from workloads.nola.lora import LoRADelta
from workloads.nola.nola import NOLADelta
from workloads.nola.param_counts import checkpoint_bytes
from workloads.nola.pranc import PRANCModel
from workloads.nola.requirements import CIFAR_FEWSHOT, FEWSHOT_TRANSFER_SETS, fewshot_dataset, scratch_dataset
from workloads.nola.subspace import covariance_rank, nola_samples, pranc_samples
from workloads.nola.vit_checkpoint import CheckpointMissing, backbone_info, load_pretrained_vit, resolve_checkpoint


def _tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
    loader = torch.utils.data.DataLoader(ds, batch_size=len(ds))
    x, y = next(iter(loader))
    return x.float(), y.long()


def _check(cfg: NolaConfig) -> None:
    if cfg.quant_mode != "none" and cfg.method not in ("nola", "lora"):
        raise ConfigError(f"quant_mode={cfg.quant_mode!r} quantizes NOLA coefficients or LoRA factors, but "
                          f"method={cfg.method!r}; set method: nola/lora or quant_mode: none.")
    if cfg.quant_mode != "none" and not (2 <= cfg.quant_bits <= 8 or cfg.quant_bits == 16):
        raise ConfigError(f"quant_bits={cfg.quant_bits} is outside Table 3.13's bits (2-8, or 16); pick one of those.")
    if cfg.method == "pranc" and cfg.experiment != "scratch":
        raise ConfigError("method=pranc reparameterises a whole network and is a from-scratch baseline; "
                          "use experiment: scratch (or method: nola/lora for few-shot).")
    if cfg.experiment == "e2e" and (cfg.method not in ("lora", "nola", "full") or cfg.target not in ("qv", "mlp")):
        raise ConfigError(f"e2e adapts GPT-2 with method lora, nola or full on target qv or mlp (Table 3.10); got "
                          f"method={cfg.method!r}, target={cfg.target!r}.")
    if cfg.experiment == "fewshot" and cfg.target in ("conv", "linear"):
        raise ConfigError(f"few-shot adapts a ViT, target={cfg.target!r} is for CNN/MLP; use mlp, qv or qkv.")


def adapter_spec(cfg: NolaConfig, seed: int) -> AdapterSpec:
    k, l = (cfg.basis_size, cfg.basis_size) if cfg.basis_size > 0 else (cfg.k, cfg.l)
    # lora_alpha <= 0 applies Table 3.12's rule: c = 1 for ranks >= 4 and 0.5 below.
    c = cfg.lora_alpha if cfg.lora_alpha > 0 else (1.0 if cfg.rank >= 4 else 0.5)
    init = cfg.nola_init if cfg.nola_init != "auto" else ("vit" if cfg.experiment == "fewshot" else "offset")
    return AdapterSpec(method=cfg.method, rank=cfg.rank, k=k, l=l, alpha=c, shared_basis=cfg.shared_basis,
                       seed=seed, init=init, batched=cfg.batched, classifier_basis=cfg.classifier_basis)


def adapter_deltas(model: nn.Module) -> list[NOLADelta | LoRADelta]:
    """The quantizable adapter deltas (NOLA coefficients or LoRA factors, Table 3.13)."""
    return [m for m in model.modules() if isinstance(m, (NOLADelta, LoRADelta))]


def adapter_numbers(model: nn.Module) -> int:
    return sum(m.num_params() for m in model.modules() if isinstance(m, AdaptedLayer))


def adapter_checkpoint_bytes(model: nn.Module, bits: int, method: str) -> int:
    """Bytes of the adapter checkpoint: its numbers at ``bits``, one quantizer min/step per quantized vector (α and β
    of each NOLA matrix, A and B of each LoRA pair) and, for NOLA, the basis seed."""
    deltas = adapter_deltas(model)
    return checkpoint_bytes(adapter_numbers(model), bits, num_seeds=1 if method == "nola" else 0,
                            num_vectors=2 * len(deltas))


def summarise_adapter(cfg: NolaConfig, model: nn.Module, summary: dict) -> None:
    bits = cfg.quant_bits if cfg.quant_mode != "none" else 32
    summary["adapter_params"] = float(adapter_numbers(model))
    # NOLA stores its basis seed next to the coefficients; LoRA stores only its factors.
    summary["checkpoint_bytes"] = float(adapter_checkpoint_bytes(model, bits, cfg.method))


def _fewshot_data(cfg: NolaConfig, ctx: Context):
    name = fewshot_dataset(cfg, ctx.scale)  # paper scale: never the small data sets
    if ctx.scale == "smoke" or name == "synthetic":
        # Same images, new labels: a re-labelled task the source features still describe.
        from workloads.common.datasets import load_dataset

        x, y = _tensors(load_dataset("synthetic", "test", n=200))
        return x, (3 * y + 1) % 10, "synthetic"
    from workloads.common.datasets import load_dataset

    if name == "digits":
        ds = load_dataset("digits-c", "test", cache_dir=ctx.cache_dir, corruption=cfg.target_corruption,
                          severity=cfg.target_severity)
        x, y = _tensors(ds)
        return x, y, "digits"
    x, y = _tensors(load_dataset(name, "train", root=ctx.data_root))
    return x, y, name


def fewshot_splits(cfg: NolaConfig, ctx: Context):
    """(train images, labels, test images, labels, source name, classes). The transfer sets (CUB-200, Caltech-101,
    Aircraft, Food101, Pets, SUN397): the authors' k-shot draw from the training images, scored on the test split
    (``fewshot_transfer``); CIFAR the same from its pickles; the small sets (digits, synthetic): k shots of the
    loaded split, scored on the rest of it."""
    name = fewshot_dataset(cfg, ctx.scale)
    if name in FEWSHOT_TRANSFER_SETS:
        if ctx.scale != "paper" and not cfg.backbone:
            raise ConfigError(f"dataset {name!r} adapts a pre-trained 224-px timm ViT: run it at --scale paper or "
                              "name a `backbone` (its checkpoint under $ORCHESTRATOR_DATA/checkpoints/nola/); the "
                              "small ViT trained here below paper scale has no source data set for it.")
        d = transfer_fewshot(name, ctx.data_root, cfg.shots, cfg.sample)
        return d.x_train, d.y_train, d.x_test, d.y_test, name, d.num_classes
    if name in CIFAR_FEWSHOT and ctx.scale != "smoke":
        # as the authors' vit/dataloader.py: k shots per class of the training set, scored on the test set
        from workloads.common.datasets import load_dataset

        x, y = _tensors(load_dataset(name, "train", root=ctx.data_root))
        chosen = kshot_per_class(y, cfg.shots, cfg.sample) if cfg.shots else torch.arange(len(y))
        xte, yte = _tensors(load_dataset(name, "test", root=ctx.data_root))
        return x[chosen], y[chosen], xte, yte, name, int(max(y.max(), yte.max())) + 1
    x, y, source = _fewshot_data(cfg, ctx)
    train_idx, test_idx = sample_few_shot(y, cfg.shots, seed=1000 + cfg.sample) if cfg.shots else (
        torch.arange(len(y)), torch.arange(len(y)))
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx], source, int(y.max()) + 1


def chunked_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device, chunk: int = 2048) -> float:
    """Top-1 accuracy (%) over ``x`` in chunks moved to ``device`` (uint8 test images are scaled to [0, 1] per chunk,
    so a large test split never sits on the device or in float at once)."""
    correct = sum(round(accuracy(model, as_unit_float(x[i:i + chunk].to(device)), y[i:i + chunk].to(device))
                        * len(y[i:i + chunk]) / 100.0) for i in range(0, len(y), chunk))
    return 100.0 * correct / max(1, len(y))


def _source_vit(cfg: NolaConfig, ctx: Context, source: str, num_classes: int) -> nn.Module:
    from workloads.common.source_model import get_source_model

    if ctx.scale == "paper" or cfg.backbone:
        # Paper scale adapts a distributed pre-trained backbone (timm layout, 224 px, its own head replaced);
        # a missing file is an error naming it, never a source model trained here.
        backbone = cfg.backbone or "vit_b16_in21k"
        try:
            path = resolve_checkpoint(cfg.checkpoint, ctx.data_root, backbone)
        except (CheckpointMissing, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        arch = backbone_info(backbone).arch if cfg.arch == "auto" else cfg.arch
        return load_pretrained_vit(path, arch, num_classes)
    arch = "small_vit" if cfg.arch == "auto" else cfg.arch
    if not cfg.checkpoint and not 1 <= cfg.source_epochs:
        raise ConfigError("source_epochs must be >= 1 to pre-train the source ViT here.")
    n_train = 256 if source == "synthetic" else None
    # The small ViT's size comes from the config (a patch-8, 64-wide ViT makes the mini quickstart cheap);
    # heads are 32 channels wide, as in the default 96-wide, 3-head model.
    build = {} if arch != "small_vit" else {"embed_dim": cfg.vit_dim, "depth": cfg.vit_depth,
                                            "patch_size": cfg.vit_patch, "num_heads": max(1, cfg.vit_dim // 32)}
    return get_source_model(arch, source, cache_dir=ctx.cache_dir, device=ctx.device, seed=0,
                            epochs=cfg.source_epochs, lr=cfg.source_lr, batch_size=cfg.source_batch,
                            optimizer="adamw", weight_decay=0.05,
                            augment=False, checkpoint=cfg.checkpoint or None, n_train=n_train, **build)


def _head_name(model: nn.Module) -> str:
    names = [n for n, _ in model.named_modules() if n.endswith("head") and n]
    if not names:
        raise ConfigError(f"{type(model).__name__} has no module named '*head'; few-shot needs a timm ViT.")
    return names[-1]


def fewshot_steps(cfg: NolaConfig, n_train: int) -> int:
    """Optimisation steps: ``epochs`` passes over the k-shot set in batches of ``batch_size``; the authors' loader drops
    the last partial batch (vit/dataloader.py l.90-92, drop_last=True), so an epoch is floor(n / batch) steps
    (10-shot CIFAR-10 at batch 16: 6 · 50 = 300). ``steps`` when ``epochs`` is 0."""
    if cfg.epochs < 0:
        raise ConfigError(f"epochs={cfg.epochs} must be >= 0 (0 uses `steps`).")
    return cfg.epochs * max(1, n_train // cfg.batch_size) if cfg.epochs else cfg.steps


def run_fewshot(cfg: NolaConfig, ctx: Context) -> None:
    """Tables 3.15/3.16: few-shot classification with a new head plus Linear / Full-FT / LoRA / NOLA."""
    xtr, ytr, xte, yte, source, num_classes = fewshot_splits(cfg, ctx)
    model = _source_vit(cfg, ctx, source, num_classes).cpu()
    head = model.get_submodule(_head_name(model))
    # The target task's head is fresh (new label space) and always trained, as in the paper.
    torch.nn.init.trunc_normal_(head.weight, std=0.02)
    torch.nn.init.zeros_(head.bias)
    if cfg.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    elif cfg.method == "linear":
        for p in model.parameters():
            p.requires_grad_(False)
        head.requires_grad_(True)
    else:
        inject_adapters(model, "vit", cfg.target, adapter_spec(cfg, ctx.seed), train_also=(_head_name(model),))
    model.to(ctx.device)
    for d in adapter_deltas(model):
        d.qat_bits = cfg.quant_bits if cfg.quant_mode == "qat" else None
    head_params = list(head.parameters())
    others = [p for p in model.parameters() if p.requires_grad and all(p is not h for h in head_params)]
    # head_lr <= 0: the head shares lr, as with the authors' single Adam (vit/train_timm.py l.287)
    groups = [{"params": head_params, "lr": cfg.head_lr if cfg.head_lr > 0 else cfg.lr}] + ([{"params": others, "lr": cfg.lr}] if others else [])
    xtr, ytr = xtr.to(ctx.device), ytr.to(ctx.device)
    t0 = time.perf_counter()
    # vit/train_timm.py l.286-288: cross-entropy with label smoothing 0.1, cosine schedule down to 1e-6
    final_loss = fit(model, xtr, ytr, param_groups=groups, steps=fewshot_steps(cfg, len(ytr)), batch_size=cfg.batch_size, seed=ctx.seed,
                     report=lambda s, loss: ctx.report(s, loss=loss), label_smoothing=cfg.label_smoothing,
                     lr_min=cfg.lr_min)
    seconds = time.perf_counter() - t0
    summary = {"train_loss": final_loss, "train_seconds": seconds,
               "trainable_params": float(trainable_count(model) - sum(p.numel() for p in head_params))}
    if cfg.quant_mode == "ptq":
        for d in adapter_deltas(model):
            d.quantize_(cfg.quant_bits)
    for d in adapter_deltas(model):
        if cfg.quant_mode == "qat":
            d.quantize_(cfg.quant_bits)  # store the codes training already saw
        d.qat_bits = None
    from workloads.nola.inject import merge_all

    merge_all(model)
    summary["accuracy"] = chunked_accuracy(model, xte, yte, ctx.device)
    if cfg.method in ("lora", "nola"):
        summarise_adapter(cfg, model, summary)
    ctx.summary(**summary)


def _scratch_model(cfg: NolaConfig, in_shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, str, str]:
    arch = "mlp" if cfg.arch == "auto" else cfg.arch
    if arch == "mlp":
        # Paper: 784-256-10 on MNIST; here the input is the flattened single-channel image.
        d = in_shape[-1] * in_shape[-2]
        return nn.Sequential(nn.Flatten(), nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, num_classes)), "mlp", "linear"
    if arch == "resnet20":
        from workloads.nola.resnet20 import ResNet20A

        return ResNet20A(num_classes, in_chans=in_shape[0]), "cnn", "conv"
    raise ConfigError(f"from-scratch arch must be 'mlp' or 'resnet20' (Sec. 3.2.3), got {arch!r}.")


def run_scratch(cfg: NolaConfig, ctx: Context) -> None:
    """Training from scratch (Sec. 3.2.3, Table B.10): PRANC vs LoRA vs NOLA on frozen random weights."""
    from workloads.common.datasets import load_dataset

    name = scratch_dataset(cfg, ctx.scale)  # paper scale: never the small data sets
    kw = {"n": 256} if name == "synthetic" else {"root": ctx.data_root}
    xtr, ytr = _tensors(load_dataset(name, "train", **kw))
    xte, yte = _tensors(load_dataset(name, "test", **kw))
    arch = "mlp" if cfg.arch == "auto" else cfg.arch
    if arch == "mlp" and xtr.shape[1] == 3:
        xtr, xte = xtr.mean(1, keepdim=True), xte.mean(1, keepdim=True)
    num_classes = int(ytr.max()) + 1
    model, family, target = _scratch_model(cfg, tuple(xtr.shape[1:]), num_classes)
    if cfg.method == "pranc":
        model = PRANCModel(model, cfg.pranc_bases, seed=ctx.seed)
        n_coeff = cfg.pranc_bases
    elif cfg.method in ("lora", "nola"):
        norms = tuple(n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
        inject_adapters(model, family, target, adapter_spec(cfg, ctx.seed), train_also=norms if cfg.train_norms else ())
        n_coeff = trainable_count(model)  # coefficients plus the trained BatchNorm affine numbers (Table 3.17)
    elif cfg.method == "full":
        n_coeff = trainable_count(model)
    else:
        raise ConfigError("from scratch trains method pranc, lora, nola or full; 'linear' has no frozen features here.")
    model.to(ctx.device)
    params = [p for p in model.parameters() if p.requires_grad]
    t0 = time.perf_counter()
    loss = fit(model, xtr.to(ctx.device), ytr.to(ctx.device), param_groups=[{"params": params, "lr": cfg.lr}],
               steps=cfg.steps, batch_size=cfg.batch_size, seed=ctx.seed, report=lambda s, l: ctx.report(s, loss=l))
    ctx.summary(train_loss=loss, train_seconds=time.perf_counter() - t0, trainable_params=float(n_coeff),
                accuracy=accuracy(model, xte.to(ctx.device), yte.to(ctx.device)),
                checkpoint_bytes=float(checkpoint_bytes(n_coeff)))


def run_subspace(cfg: NolaConfig, ctx: Context) -> None:
    """Fig. 3.7: rank of the covariance of sampled ΔW, PRANC (n bases) vs NOLA (k = l = n/2), exact."""
    d, n = cfg.subspace_d, cfg.subspace_n
    if n < 2 or n % 2:
        raise ConfigError(f"subspace_n={n} must be an even number >= 2 so NOLA can use k = l = n/2.")
    k = n // 2
    samples = max(d * d, k * k, n) + 8  # more samples than the largest possible rank, so the rank is exact
    pr = covariance_rank(pranc_samples(d, n, samples, seed=ctx.seed))
    nr = covariance_rank(nola_samples(d, k, k, cfg.subspace_rank, samples, seed=ctx.seed))
    ctx.summary(pranc_rank=float(pr), nola_rank=float(nr), max_rank=float(d * d), coefficients=float(n))


# Declared (config, metrics) in workloads/nola/__init__.py; imported only when a trial runs.
def run(cfg: NolaConfig, ctx: Context) -> None:
    _check(cfg)
    if cfg.experiment == "e2e":
        from workloads.nola.e2e_experiment import run_e2e

        run_e2e(cfg, ctx)
        return
    {"fewshot": run_fewshot, "scratch": run_scratch, "subspace": run_subspace}[cfg.experiment](cfg, ctx)
