"""The CTTA methods as online adapters: ``step(x)`` predicts a batch and adapts on it (never reset).

source (no adaptation), bn_adapt (BN-1: test-batch statistics), tent (continual TENT), cotta, law,
surgical (continual fine-tuning of the first block) and palm (Sec. 4). One class per method.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Iterable

import torch
import torch.nn as nn

from workloads.palm.augment import TTAugment
from workloads.palm.importance import (adam_step, ema_sensitivity, importance, layer_scores, learning_rates,
                                       select_layers, sensitivity)
from workloads.palm.losses import consistency, entropy, kl_to_uniform, palm_objective, pseudo_label_nll

NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


def use_batch_statistics(model: nn.Module) -> None:
    """BN layers normalise with the statistics of the current test batch (BN-1, TENT, CoTTA, LAW, PALM)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.train()
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None


def norm_affine_params(model: nn.Module) -> dict[str, nn.Parameter]:
    """TENT's parameters: the affine weight/bias of normalisation layers."""
    return {f"{n}.{pn}": p for n, m in model.named_modules() if isinstance(m, NORM_TYPES)
            for pn, p in m.named_parameters(recurse=False)}


def conv_and_norm_params(model: nn.Module) -> dict[str, nn.Parameter]:
    """LAW's and PALM's candidate layers: convolutions and normalisation layers (weight and bias)."""
    return {f"{n}.{pn}": p for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, *NORM_TYPES))
            for pn, p in m.named_parameters(recurse=False)}


# First convolutional block per architecture (surgical fine-tuning, Lee et al. 2023).
FIRST_BLOCK_PREFIXES = ("net.conv1.", "net.bn1.", "net.block1.", "net.layers.0.", "net.layer1.",
                        "net.conv_1_3x3.", "net.bn_1.", "net.stage_1.", "net.features.0.", "net.features.1.")


def first_block_params(model: nn.Module) -> dict[str, nn.Parameter]:
    params = {n: p for n, p in model.named_parameters() if n.startswith(FIRST_BLOCK_PREFIXES)}
    if not params:
        raise ValueError(f"surgical: no first-block parameters found in {type(model).__name__}; known prefixes "
                         f"{FIRST_BLOCK_PREFIXES}")
    return params


class Adapter:
    """Base: ``step`` returns the logits used as this batch's prediction."""

    adapted_fraction: float = 0.0

    def __init__(self, model: nn.Module):
        self.model = model
        self.total_params = sum(p.numel() for p in model.parameters())

    def _trainable(self, params: dict[str, nn.Parameter]) -> list[nn.Parameter]:
        self.model.requires_grad_(False)
        for p in params.values():
            p.requires_grad_(True)
        return list(params.values())

    def step(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(x)


class Source(Adapter):
    def __init__(self, model: nn.Module):
        super().__init__(model)
        model.eval()


class BNAdapt(Adapter):
    def __init__(self, model: nn.Module):
        super().__init__(model)
        model.eval()
        use_batch_statistics(model)


class Tent(Adapter):
    """TENT (Wang et al. 2021) run continually: entropy minimisation of the BN affine parameters with Adam."""

    def __init__(self, model: nn.Module, lr: float):
        super().__init__(model)
        model.eval()
        use_batch_statistics(model)
        self.params = norm_affine_params(model)
        self.opt = torch.optim.Adam(self._trainable(self.params), lr=lr, betas=(0.9, 0.999))
        self.adapted_fraction = sum(p.numel() for p in self.params.values()) / self.total_params

    def step(self, x):
        logits = self.model(x)
        loss = entropy(logits).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return logits.detach()


class Surgical(Adapter):
    """Continual fine-tuning of the first block only, SGD with a fixed LR, on the entropy of test batches."""

    def __init__(self, model: nn.Module, lr: float):
        super().__init__(model)
        model.eval()
        use_batch_statistics(model)
        self.params = first_block_params(model)
        self.opt = torch.optim.SGD(self._trainable(self.params), lr=lr, momentum=0.9)
        self.adapted_fraction = sum(p.numel() for p in self.params.values()) / self.total_params

    def step(self, x):
        logits = self.model(x)
        loss = entropy(logits).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return logits.detach()


class CoTTA(Adapter):
    """CoTTA (Wang et al. 2022): EMA teacher, augmentation-averaged pseudo-labels when the source model is
    unsure, and stochastic restore of weights to the source."""

    def __init__(self, model: nn.Module, lr: float, image_size: int, ema: float = 0.999, restore_p: float = 0.01,
                 anchor_threshold: float = 0.92, n_aug: int = 32, strength: str = "cifar"):
        super().__init__(model)
        model.eval()
        self.source_state = copy.deepcopy(model.state_dict())
        self.anchor = copy.deepcopy(model).eval()
        self.teacher = copy.deepcopy(model)
        use_batch_statistics(model)
        use_batch_statistics(self.teacher)
        self.teacher.requires_grad_(False)
        self.anchor.requires_grad_(False)
        self.opt = torch.optim.Adam(self._trainable(dict(model.named_parameters())), lr=lr, betas=(0.9, 0.999))
        self.ema, self.restore_p, self.anchor_threshold, self.n_aug = ema, restore_p, anchor_threshold, n_aug
        self.augment = TTAugment(image_size, strength)
        self.adapted_fraction = 1.0

    def step(self, x):
        logits = self.model(x)
        with torch.no_grad():
            anchor_conf = self.anchor(x).softmax(1).max(1).values
            teacher_logits = self.teacher(x)
            if anchor_conf.mean() < self.anchor_threshold:
                aug = torch.stack([self.teacher(self.augment(x)) for _ in range(self.n_aug)]).mean(0)
                teacher_logits = aug
        loss = -(teacher_logits.softmax(1) * logits.log_softmax(1)).sum(1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            for pt, ps in zip(self.teacher.parameters(), self.model.parameters()):
                pt.mul_(self.ema).add_(ps, alpha=1 - self.ema)
            for name, p in self.model.named_parameters():
                if p.dim() > 1 or "weight" in name:  # restore a random subset of weights to the source
                    mask = (torch.rand_like(p) < self.restore_p).to(p.dtype)
                    p.mul_(1 - mask).add_(self.source_state[name].to(p.device) * mask)
        return teacher_logits.detach()


class Law(Adapter):
    """LAW (Park et al., WACV 2024): layer-wise LRs from the accumulated FIM of pseudo-labels, min-max scaled."""

    def __init__(self, model: nn.Module, lr: float, image_size: int, tau: float = 1.0, lam: float = 0.01,
                 strength: str = "cifar"):
        super().__init__(model)
        model.eval()
        use_batch_statistics(model)
        self.params = conv_and_norm_params(model)
        self._trainable(self.params)
        self.fim = defaultdict(float)
        self.states: dict[str, dict] = defaultdict(dict)
        self.lr, self.tau, self.lam = lr, tau, lam
        self.augment = TTAugment(image_size, strength)
        self.adapted_fraction = sum(p.numel() for p in self.params.values()) / self.total_params
        self.layer_lr: dict[str, float] = {}

    def step(self, x):
        logits = self.model(x)
        logits_aug = self.model(self.augment(x))
        names, params = list(self.params), list(self.params.values())
        grads = torch.autograd.grad(pseudo_label_nll(logits), params, retain_graph=True)
        values = {}
        for n, g in zip(names, grads):
            self.fim[n] = self.fim[n] + g.detach() ** 2
            values[n] = float(self.fim[n].mean()) ** 0.5
        lo, hi = min(values.values()), max(values.values())
        self.layer_lr = {n: self.lr * ((v - lo) / (hi - lo + 1e-8)) ** self.tau for n, v in values.items()}
        c = logits.shape[1]
        loss = entropy(logits).mean() + self.lam * c * consistency(logits, logits_aug)
        grads = torch.autograd.grad(loss, params)
        for n, p, g in zip(names, params, grads):
            adam_step(p, g, self.states[n], self.layer_lr[n])
        return logits.detach()


class Palm(Adapter):
    """PALM (Sec. 4): select layers by the gradient norm of KL(softmax(h/T)‖u) (Eq. 1-2), set per-parameter LRs
    from sensitivity (Eq. 4-8), and minimise Eq. 11 with Adam.

    ``importance_from``: ``kl`` (the method) or ``pseudo_label`` (Table 7: gradients of the log-likelihood).
    ``optimizer``: ``palm`` (Eq. 8 with Adam) or a plain adaptive optimizer on the selected layers (Table 6:
    ``lars`` (timm), ``prodigy`` (prodigyopt), ``adafactor`` (torch))."""

    def __init__(self, model: nn.Module, *, kappa: float, alpha: float, temperature: float, eta: float, lam: float,
                 image_size: int, importance_from: str = "kl", optimizer: str = "palm", strength: str = "cifar",
                 eps: float = 1e-8):
        super().__init__(model)
        model.eval()
        use_batch_statistics(model)
        self.params = conv_and_norm_params(model)
        self._trainable(self.params)
        self.kappa, self.alpha, self.temperature, self.eta, self.lam, self.eps = kappa, alpha, temperature, eta, lam, eps
        self.importance_from, self.optimizer = importance_from, optimizer
        self.augment = TTAugment(image_size, strength)
        self.smoothed: dict[str, torch.Tensor] = {}
        self.states: dict[str, dict] = defaultdict(dict)
        self.mean_importance: dict[str, float] = {}
        self.opt = None
        if optimizer != "palm":
            self.opt = _plain_optimizer(optimizer, list(self.params.values()), kappa)

    def _uncertainty_loss(self, logits):
        if self.importance_from == "kl":
            return kl_to_uniform(logits, self.temperature)
        return pseudo_label_nll(logits)

    def step(self, x):
        logits = self.model(x)
        logits_aug = self.model(self.augment(x))
        names, params = list(self.params), list(self.params.values())
        grads = dict(zip(names, torch.autograd.grad(self._uncertainty_loss(logits), params, retain_graph=True)))
        selected = select_layers(layer_scores(grads), self.eta)
        lrs: dict[str, torch.Tensor | float] = {}
        mean_imp: dict[str, torch.Tensor] = {}
        n_selected = 0
        for n, p in self.params.items():
            if not selected[n]:
                lrs[n] = 0.0
                continue
            n_selected += p.numel()
            s = sensitivity(p, grads[n])
            self.smoothed[n] = ema_sensitivity(s, self.smoothed.get(n), self.alpha)
            imp = importance(s, self.smoothed[n], self.eps)
            mean_imp[n] = imp.mean()
            lrs[n] = learning_rates(imp, self.kappa)
        means = torch.stack(list(mean_imp.values())).tolist() if mean_imp else []  # one sync for all layers
        self.mean_importance = {n: 0.0 for n in self.params} | dict(zip(mean_imp, means))
        self.adapted_fraction = n_selected / self.total_params
        loss = palm_objective(logits, logits_aug, self.lam)
        update = torch.autograd.grad(loss, params, allow_unused=True)
        if self.opt is None:
            for n, p, g in zip(names, params, update):
                if selected[n] and g is not None:
                    adam_step(p, g, self.states[n], lrs[n])
        else:
            for n, p, g in zip(names, params, update):
                p.grad = g if selected[n] and g is not None else None  # frozen layers get no update
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
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
