"""The CTTA methods as online adapters: ``step(x)`` predicts a batch and adapts on it (never reset).

source (no adaptation), bn_adapt (BN-1: test-batch statistics), tent (continual TENT), cotta, law,
surgical (continual fine-tuning of the first block) and palm (Sec. 4). One class per method; each follows the
file of sarthaxxxxx/PALM classification/methods/ named in its docstring (the code PALM's tables come from).
``reading="official"`` computes what that code computes; ``reading="paper"`` what the text says, where they differ
(docs/FIDELITY.md (palm) lists every difference).
"""
from __future__ import annotations

import copy
import math
from collections import defaultdict
from typing import Iterable

import torch
import torch.nn as nn

from workloads.palm.augment import TTAugment
from workloads.palm.importance import (accumulate_fim, adam_step, ema_sensitivity, importance, layer_scores,
                                       law_learning_rates, learning_rates, select_layers, sensitivity,
                                       tensor_learning_rate)
from workloads.palm.losses import (consistency, cotta_cross_entropy, entropy, filtered_entropy_mean, kl_to_uniform,
                                   palm_objective, pseudo_label_nll, uniform_target_cross_entropy)
from workloads.palm.teacher import ema_update, restore_masks, stochastic_restore

NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)
READINGS = ("official", "paper")


def use_batch_statistics(model: nn.Module) -> None:
    """BN layers normalise with the statistics of the current test batch (BN-1, TENT, CoTTA, LAW, PALM;
    methods/tent.py:58-64)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.train()
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None


def norm_affine_params(model: nn.Module) -> dict[str, nn.Parameter]:
    """TENT's parameters: the affine weight/bias of normalisation layers (methods/tent.py:32-48)."""
    return {f"{n}.{pn}": p for n, m in model.named_modules() if isinstance(m, NORM_TYPES)
            for pn, p in m.named_parameters(recurse=False)}


def conv_and_norm_params(model: nn.Module) -> dict[str, nn.Parameter]:
    """LAW's and PALM's candidate tensors: weight and bias of convolutions and normalisation layers
    (methods/ours.py:84-93, methods/law.py:66-75)."""
    return {f"{n}.{pn}": p for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, *NORM_TYPES))
            for pn, p in m.named_parameters(recurse=False)}


# methods/surgical.py:47: modules whose name contains one of these are the first block (WRN block1, ResNet layer1,
# ResNeXt stage_1); the stem conv/BN before it and the final BN are not.
FIRST_BLOCK_MARKERS = ("layer1", "block1", "stage_1")
# The project's small source models have no such name; their first block after the stem, by the same rule.
FIRST_BLOCK_FALLBACK = ("net.features.1.", "net.layers.0.")


def first_block_params(model: nn.Module) -> dict[str, nn.Parameter]:
    """Surgical fine-tuning's trainable tensors: conv/norm weight and bias inside the first block."""
    def pick(match):
        return {f"{n}.{pn}": p for n, m in model.named_modules() if match(n) and isinstance(m, (nn.Conv2d, *NORM_TYPES))
                for pn, p in m.named_parameters(recurse=False)}

    params = pick(lambda n: any(k in n for k in FIRST_BLOCK_MARKERS))
    if not params:
        params = pick(lambda n: (n + ".").startswith(FIRST_BLOCK_FALLBACK))
    if not params:
        raise ValueError(f"surgical: no first-block module found in {type(model).__name__}: module names must contain "
                         f"one of {FIRST_BLOCK_MARKERS} (as in RobustBench/torchvision models) or start with "
                         f"{FIRST_BLOCK_FALLBACK}; rename the block or use another method")
    return params


def make_optimizer(kind: str, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """The benchmark's optimisers (methods/base.py:123-135 with conf.py defaults): Adam(β=(0.9, 0.999), wd 0) or
    SGD(momentum 0.9, dampening 0, Nesterov, wd 0)."""
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), weight_decay=0.0)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=True)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {kind!r}")


def _check_reading(reading: str) -> str:
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS} (official: the authors' code; paper: the text), got {reading!r}")
    return reading


class Adapter:
    """Base: ``step`` returns the logits used as this batch's prediction.

    ``adapted_fraction``: share of the model's parameters that this batch's update may change (LR > 0);
    ``selected_fraction``: share in tensors selected this batch (PALM's Z ≤ η; equal to adapted for the others)."""

    adapted_fraction: float = 0.0
    selected_fraction: float = 0.0

    def __init__(self, model: nn.Module):
        self.model = model
        self.total_params = sum(p.numel() for p in model.parameters())

    def _trainable(self, params: dict[str, nn.Parameter]) -> list[nn.Parameter]:
        self.model.requires_grad_(False)
        for p in params.values():
            p.requires_grad_(True)
        self.adapted_fraction = self.selected_fraction = sum(p.numel() for p in params.values()) / self.total_params
        return list(params.values())

    def step(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(x)


class Source(Adapter):
    def __init__(self, model: nn.Module):
        super().__init__(model)
        model.eval()


class BNAdapt(Adapter):
    """BN-1 (methods/norm.py): test-batch statistics, no parameter update."""

    def __init__(self, model: nn.Module):
        super().__init__(model)
        model.eval()
        use_batch_statistics(model)


class Tent(Adapter):
    """TENT continual (methods/tent.py): entropy minimisation of the norm affine parameters; Adam on CIFAR,
    SGD-Nesterov on ImageNet-C (cfgs/imagenet_c/tent.yaml: lr 2.5e-4)."""

    def __init__(self, model: nn.Module, lr: float, optimizer: str = "adam"):
        super().__init__(model)
        model.eval()
        use_batch_statistics(model)
        self.params = norm_affine_params(model)
        self.opt = make_optimizer(optimizer, self._trainable(self.params), lr)

    def step(self, x):
        logits = self.model(x)
        loss = entropy(logits).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return logits.detach()


class Surgical(Adapter):
    """Surgical fine-tuning, continual (methods/surgical.py): conv/BN of the first block only, SGD-Nesterov with a
    fixed LR, on the entropy of samples with H < 0.4·log C (mean over them) + λ·consistency (λ = 0.01, no ×C).

    The code puts the whole model in train mode: with no dropout in these models that is test-batch BN statistics
    everywhere, which ``use_batch_statistics`` gives without touching running statistics."""

    def __init__(self, model: nn.Module, lr: float, image_size: int, lam: float = 0.01):
        super().__init__(model)
        model.eval()
        use_batch_statistics(model)
        self.params = first_block_params(model)
        self.opt = make_optimizer("sgd", self._trainable(self.params), lr)
        self.lam = lam
        self.augment = TTAugment(image_size)

    def step(self, x):
        logits = self.model(x)
        logits_aug = self.model(self.augment(x))
        margin = 0.4 * math.log(logits.shape[1])  # surgical.py:22, unlike ours.py's absolute 0.4
        loss = filtered_entropy_mean(logits, margin) + self.lam * consistency(logits, logits_aug)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return logits.detach()


class CoTTA(Adapter):
    """CoTTA (methods/cotta.py; qinenergy/cotta cifar/cotta.py): EMA teacher, augmentation-averaged teacher output
    when the anchor is unsure, stochastic restore of every weight and bias to the source.

    Anchor: official = a copy of the configured model (test-batch BN statistics, cotta.py:34 after
    configure_model); paper = the source model as trained (running statistics)."""

    def __init__(self, model: nn.Module, lr: float, image_size: int, ema: float = 0.999, restore_p: float = 0.01,
                 anchor_threshold: float = 0.92, n_aug: int = 32, *, optimizer: str = "adam", symmetric: bool = False,
                 reading: str = "official", generator: torch.Generator | None = None):
        super().__init__(model)
        self.reading = _check_reading(reading)
        model.eval()
        source_anchor = copy.deepcopy(model).eval()
        use_batch_statistics(model)
        self.source_state = {n: p.detach().clone() for n, p in model.named_parameters()}
        self.anchor = copy.deepcopy(model) if reading == "official" else source_anchor
        self.teacher = copy.deepcopy(model)
        self.teacher.requires_grad_(False)
        self.anchor.requires_grad_(False)
        self.opt = make_optimizer(optimizer, self._trainable(dict(model.named_parameters())), lr)
        self.ema, self.restore_p, self.anchor_threshold, self.n_aug = ema, restore_p, anchor_threshold, n_aug
        self.symmetric, self.generator = symmetric, generator
        self.augment = TTAugment(image_size)

    def step(self, x):
        logits = self.model(x)
        with torch.no_grad():
            anchor_conf = self.anchor(x).softmax(1).max(1).values
            if anchor_conf.mean() < self.anchor_threshold:
                teacher_logits = torch.stack([self.teacher(self.augment(x)) for _ in range(self.n_aug)]).mean(0)
            else:
                teacher_logits = self.teacher(x)
        loss = cotta_cross_entropy(logits, teacher_logits, self.symmetric)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        ema_update(self.teacher.parameters(), self.model.parameters(), self.ema)
        if self.restore_p > 0:
            named = list(self.model.named_parameters())
            masks = restore_masks([p.shape for _, p in named], self.restore_p, self.generator)
            for (name, p), mask in zip(named, masks):
                stochastic_restore(p, self.source_state[name], mask.to(p.device))
        return teacher_logits.detach()


class Law(Adapter):
    """LAW (Park et al., WACV 2024; methods/law.py = junia3/LayerwiseTTA methods/law.py): one LR per tensor from the
    accumulated FIM of pseudo-labels, min-max scaled; a fresh Adam every batch; loss = mean entropy + λ·C·consistency.

    FIM: official accumulates the square of what ``.grad`` holds after the pseudo-label backward. The code never
    zeroes the gradients between batches (law.py:40-46), so from the 2nd batch on that is the pseudo-label gradient
    plus the previous batch's total-loss gradient; paper = the pseudo-label gradient alone (F̂_t = F̂_{t-1} + F_t)."""

    def __init__(self, model: nn.Module, lr: float, image_size: int, tau: float = 1.0, lam: float = 0.01,
                 reading: str = "official"):
        super().__init__(model)
        self.reading = _check_reading(reading)
        model.eval()
        use_batch_statistics(model)
        self.params = conv_and_norm_params(model)
        self._trainable(self.params)
        self.fim: dict[str, torch.Tensor] = {}
        self.leftover: dict[str, torch.Tensor] = {}
        self.lr, self.tau, self.lam = lr, tau, lam
        self.augment = TTAugment(image_size)
        self.layer_lr: dict[str, float] = {}

    def step(self, x):
        logits = self.model(x)
        logits_aug = self.model(self.augment(x))
        names, params = list(self.params), list(self.params.values())
        grads = torch.autograd.grad(pseudo_label_nll(logits), params, retain_graph=True)
        for n, g in zip(names, grads):
            held = g + self.leftover[n] if n in self.leftover else g
            self.fim[n] = accumulate_fim(self.fim.get(n, 0.0), held)
        self.layer_lr = law_learning_rates(self.fim, self.lr, self.tau)
        loss = entropy(logits).mean() + self.lam * logits.shape[1] * consistency(logits, logits_aug)
        grads = torch.autograd.grad(loss, params)
        for n, p, g in zip(names, params, grads):
            adam_step(p, g, {}, self.layer_lr[n])
            if self.reading == "official":
                self.leftover[n] = g.detach()
        return logits.detach()


class Palm(Adapter):
    """PALM (Sec. 4; methods/ours.py): select tensors by the L1 norm of the gradient of the uncertainty loss
    (Eq. 1-2), set learning rates from sensitivity (Eq. 4-8), and minimise Eq. 11 with Adam.

    official (ours.py:35-82): loss of Eq. 1 with a target of ones (C x the KL's gradient); ONE rate per tensor,
    κ·mean(i); a fresh Adam every batch (weight decay from the config); a tensor once selected keeps its last rate
    while unselected; Eq. 11 with H < 0.4 nats averaged over kept samples and λ·C.
    paper: KL of Eq. 1 (class average); κ·i per element; one persistent Adam; unselected tensors frozen (LR 0);
    Eq. 11 with H ≤ 0.4·log C over the batch and λ.

    ``importance_from``: ``kl`` (the method) or ``pseudo_label`` (Table 7: gradients of the log-likelihood).
    ``optimizer``: ``palm`` (Eq. 8 with Adam) or a plain adaptive optimizer on the selected tensors (Table 6:
    ``lars`` (timm), ``prodigy`` (prodigyopt), ``adafactor`` (torch))."""

    def __init__(self, model: nn.Module, *, kappa: float, alpha: float, temperature: float, eta: float, lam: float,
                 image_size: int, importance_from: str = "kl", optimizer: str = "palm", reading: str = "official",
                 weight_decay: float = 0.0, eps: float = 1e-8):
        super().__init__(model)
        self.reading = _check_reading(reading)
        model.eval()
        use_batch_statistics(model)
        self.params = conv_and_norm_params(model)
        self._trainable(self.params)
        self.kappa, self.alpha, self.temperature, self.eta, self.lam, self.eps = kappa, alpha, temperature, eta, lam, eps
        self.importance_from, self.optimizer, self.weight_decay = importance_from, optimizer, weight_decay
        self.augment = TTAugment(image_size)
        self.smoothed: dict[str, torch.Tensor] = {}
        self.tensor_lr: dict[str, torch.Tensor] = {}      # official: last rate of every tensor ever selected
        self.states: dict[str, dict] = defaultdict(dict)  # paper: persistent Adam moments
        self.mean_importance: dict[str, float] = {}
        self.opt = None
        if optimizer != "palm":
            self.opt = _plain_optimizer(optimizer, list(self.params.values()), kappa)

    def _uncertainty_loss(self, logits):
        if self.importance_from == "pseudo_label":
            return pseudo_label_nll(logits)
        if self.reading == "official":
            return uniform_target_cross_entropy(logits, self.temperature)
        return kl_to_uniform(logits, self.temperature)

    def step(self, x):
        logits = self.model(x)
        logits_aug = self.model(self.augment(x))
        names, params = list(self.params), list(self.params.values())
        grads = dict(zip(names, torch.autograd.grad(self._uncertainty_loss(logits), params, retain_graph=True)))
        selected = select_layers(layer_scores(grads), self.eta)
        element_lr: dict[str, torch.Tensor] = {}
        mean_imp: dict[str, torch.Tensor] = {}
        for n, p in self.params.items():
            if not selected[n]:
                continue
            s = sensitivity(p, grads[n])
            self.smoothed[n] = ema_sensitivity(s, self.smoothed.get(n), self.alpha)
            imp = importance(s, self.smoothed[n], self.eps)
            mean_imp[n] = imp.mean()
            if self.reading == "official":
                self.tensor_lr[n] = tensor_learning_rate(imp, self.kappa)
            else:
                element_lr[n] = learning_rates(imp, self.kappa)
        # one device→host copy for all tensors' numbers (≈100 tensors in a WRN-28-10)
        rate_names = list(self.tensor_lr) if self.reading == "official" else []
        values = torch.stack([*mean_imp.values(), *(self.tensor_lr[n] for n in rate_names)]).tolist() if (
            mean_imp or rate_names) else []
        means, rates = values[:len(mean_imp)], dict(zip(rate_names, values[len(mean_imp):]))
        self.mean_importance = {n: 0.0 for n in self.params} | dict(zip(mean_imp, means))
        if self.reading == "official" and self.opt is None:
            moving = {n for n, r in rates.items() if r > 0}
        else:
            moving = set(mean_imp)
        numel = {n: p.numel() for n, p in self.params.items()}
        self.selected_fraction = sum(numel[n] for n in mean_imp) / self.total_params
        self.adapted_fraction = sum(numel[n] for n in moving) / self.total_params
        loss = palm_objective(logits, logits_aug, self.lam, self.reading)
        update = torch.autograd.grad(loss, params, allow_unused=True)
        if self.opt is not None:
            for n, p, g in zip(names, params, update):
                p.grad = g if n in moving and g is not None else None  # frozen tensors get no update
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            return logits.detach()
        for n, p, g in zip(names, params, update):
            if n not in moving or g is None:
                continue
            if self.reading == "official":
                adam_step(p, g, {}, self.tensor_lr[n], weight_decay=self.weight_decay)
            else:
                adam_step(p, g, self.states[n], element_lr[n], weight_decay=self.weight_decay)
        return logits.detach()


def _plain_optimizer(name: str, params: Iterable[nn.Parameter], lr: float):
    params = list(params)
    if name == "lars":
        from timm.optim import Lars

        return Lars(params, lr=lr, momentum=0.9)
    if name == "prodigy":
        from prodigyopt import Prodigy

        return Prodigy(params, lr=1.0)  # Prodigy estimates the step size itself; lr=1 is its documented default
    if name == "adafactor":
        return torch.optim.Adafactor(params, lr=lr)
    raise ValueError(f"optimizer must be palm, lars, prodigy or adafactor, got {name!r}")
