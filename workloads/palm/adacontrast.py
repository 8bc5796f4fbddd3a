"""AdaContrast (Chen et al., CVPR 2022) as PALM's benchmark runs it, continual (never reset).

Official files: DianCh/AdaContrast target.py (refine_predictions, instance_loss, diversification_loss) and
moco/builder.py (AdaMoCo); the copy PALM's Tables 1-4 come from: sarthaxxxxx/PALM classification/methods/adacontrast.py
with conf.py's ADACONTRAST defaults and cfgs/<dataset>/adacontrast.yaml (SGD-Nesterov lr 2e-4, momentum 0.9,
weight decay 1e-4, MoCo temperature 0.07, EMA 0.999, queue 16384, 10 cosine neighbours, α = β = η = 1,
class-aware contrast, weak→strong supervision). The paper's equation numbers (Chen et al.) are named per function.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from workloads.palm.moco_augment import View, strong_view, weak_view
from workloads.palm.teacher import ema_update

WARMUP_SAMPLES = 1024   # adacontrast.py:233-237: plain arg-max pseudo-labels until 1024 samples were seen


def head_of(model: nn.Module) -> nn.Linear:
    """The classifier head: the last ``nn.Linear`` of the model (fc / classifier of every builder here)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears or not hasattr(model, "forward_features"):
        raise ValueError(f"adacontrast needs a model with forward_features() and a final nn.Linear head (as every "
                         f"workloads.common.models.build_model result has); {type(model).__name__} has not")
    return linears[-1]


def features_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BaseModel.forward(x, return_feats=True) (models/model.py:218-227): pooled encoder features, head logits."""
    feats = model.forward_features(x)
    return feats, head_of(model)(feats)


@torch.no_grad()
def soft_knn_refine(feats: torch.Tensor, bank_feats: torch.Tensor, bank_probs: torch.Tensor,
                    k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft k-nearest-neighbour voting (Chen et al. Eq. 2-3; adacontrast.py soft_k_nearest_neighbors).

    Cosine distance 1 - <f/|f|, b/|b|> to every bank feature, the ``k`` nearest, their stored probabilities averaged;
    the pseudo-label is the arg-max of that average."""
    dist = 1 - F.normalize(feats, dim=1) @ F.normalize(bank_feats, dim=1).T
    idx = dist.argsort(dim=1)[:, :k]
    probs = bank_probs[idx].mean(dim=1)
    return probs.argmax(dim=1), probs


def instance_logits(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """MoCo logits (AdaMoCo.forward): [<q, k>, <q, queue_j>] / T with L2-normalised q, k; queue is (D, K)."""
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    pos = (q * k).sum(dim=1, keepdim=True)
    return torch.cat([pos, q @ queue], dim=1) / temperature


def instance_loss(logits_ins: torch.Tensor, pseudo_labels: torch.Tensor, queue_labels: torch.Tensor) -> torch.Tensor:
    """Class-aware InfoNCE (Chen et al. Eq. 5; adacontrast.py instance_loss, contrast_type="class_aware"):
    cross-entropy towards the positive key, with the queue entries of the same pseudo-label removed (−∞)."""
    keep = torch.ones_like(logits_ins, dtype=torch.bool)
    keep[:, 1:] = pseudo_labels.view(-1, 1) != queue_labels.view(1, -1)
    masked = logits_ins.masked_fill(~keep, float("-inf"))
    return F.cross_entropy(masked, torch.zeros(len(masked), dtype=torch.long, device=masked.device))


def diversity_loss(logits: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Diversity regulariser (Chen et al. Eq. 7; adacontrast.py div): Σ_c p̄_c log(p̄_c + ε), p̄ the batch-mean
    softmax; minimising it maximises the entropy of the mean prediction."""
    mean = logits.softmax(dim=1).mean(dim=0)
    return (mean * torch.log(mean + eps)).sum()


def adacontrast_loss(logits_strong: torch.Tensor, pseudo_labels: torch.Tensor, logits_ins: torch.Tensor,
                     queue_labels: torch.Tensor, alpha: float = 1.0, beta: float = 1.0,
                     eta: float = 1.0) -> torch.Tensor:
    """Chen et al. Eq. 8: α L_cls + β L_ins + η L_div with weak→strong supervision (ce_sup_type "weak_strong":
    cross-entropy of the strong view's logits to the refined weak-view pseudo-labels, diversity on the strong view)."""
    loss = alpha * F.cross_entropy(logits_strong, pseudo_labels) + beta * instance_loss(logits_ins, pseudo_labels,
                                                                                        queue_labels)
    return loss + eta * diversity_loss(logits_strong) if eta > 0 else loss


@torch.no_grad()
def enqueue(queue: torch.Tensor, queue_labels: torch.Tensor, ptr: int, keys: torch.Tensor,
            labels: torch.Tensor) -> int:
    """AdaMoCo.update_memory: write L2-normalised keys (columns) and their pseudo-labels at ptr, ptr+1, ... mod K
    in place; returns the new pointer."""
    size = queue.shape[1]
    idx = torch.arange(ptr, ptr + len(keys), device=queue.device) % size
    queue[:, idx] = keys.T
    queue_labels[idx] = labels
    return (ptr + len(keys)) % size


@torch.no_grad()
def update_bank(feats: torch.Tensor | None, probs: torch.Tensor | None, ptr: int, new_feats: torch.Tensor,
                new_probs: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """adacontrast.py update_labels: the kNN bank grows by whole batches while it holds fewer than ``size`` entries
    (so it may end a little larger), then is overwritten as a ring of its own length."""
    if feats is None or len(feats) < size:
        feats = new_feats if feats is None else torch.cat([feats, new_feats])
        probs = new_probs if probs is None else torch.cat([probs, new_probs])
        return feats, probs, (ptr + len(new_feats)) % len(feats)
    idx = torch.arange(ptr, ptr + len(new_feats), device=feats.device) % len(feats)
    feats[idx], probs[idx] = new_feats, new_probs
    return feats, probs, (ptr + len(new_feats)) % len(feats)


class AdaContrast:
    """One online step per test batch (adacontrast.py forward + forward_and_adapt).

    All weights and biases train with SGD-Nesterov; BatchNorm layers run in train mode during adaptation (batch
    statistics, running statistics updated with momentum 0.1) and the batch is predicted AFTER its update in eval
    mode (running statistics), as ``forward`` does. The key encoder is an EMA of the student, updated before the keys
    are computed; the kNN bank stores the key encoder's (un-normalised) weak-view features and probabilities."""

    adapted_fraction: float = 1.0
    selected_fraction: float = 1.0

    def __init__(self, model: nn.Module, *, lr: float = 2e-4, momentum: float = 0.9, weight_decay: float = 1e-4,
                 ema: float = 0.999, temperature: float = 0.07, queue_size: int = 16384, neighbors: int = 10,
                 alpha: float = 1.0, beta: float = 1.0, eta: float = 1.0, warmup_samples: int = WARMUP_SAMPLES,
                 weak=None, strong=None, generator: torch.Generator | None = None):
        if queue_size < 1 or neighbors < 1:
            raise ValueError(f"adacontrast: queue_size and neighbors must be >= 1, got {queue_size} and {neighbors}")
        self.model = model
        head = head_of(model)
        self.key_model = copy.deepcopy(model)
        self.key_model.requires_grad_(False)
        model.requires_grad_(True)
        params = [p for m in model.modules() for n, p in m.named_parameters(recurse=False) if n in ("weight", "bias")]
        self.opt = torch.optim.SGD(params, lr=lr, momentum=momentum, dampening=0.0, weight_decay=weight_decay,
                                   nesterov=True)
        self.ema, self.temperature, self.queue_size, self.neighbors = ema, temperature, queue_size, neighbors
        self.alpha, self.beta, self.eta, self.warmup_samples = alpha, beta, eta, warmup_samples
        ref = next(model.parameters())
        # adacontrast.py AdaMoCo.__init__: a random unit-norm queue and random labels before any key is written
        self.queue = F.normalize(torch.randn(head.in_features, queue_size, generator=generator, dtype=ref.dtype),
                                 dim=0).to(ref.device)
        self.queue_labels = torch.randint(0, head.out_features, (queue_size,), generator=generator).to(ref.device)
        self.queue_ptr, self.bank_ptr, self.seen = 0, 0, 0
        self.bank_feats: torch.Tensor | None = None
        self.bank_probs: torch.Tensor | None = None
        self.weak = weak or View(weak_view, generator)
        self.strong = strong or View(strong_view, generator)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        x_w, x_q, x_k = self.weak(x), self.strong(x), self.strong(x)
        self.model.train()
        self.key_model.train()
        with torch.no_grad():  # the weak view only yields pseudo-labels (and updates BN running statistics)
            feats_w, logits_w = features_and_logits(self.model, x_w)
            if self.seen >= self.warmup_samples and self.bank_feats is not None:
                pseudo, _ = soft_knn_refine(feats_w, self.bank_feats, self.bank_probs, self.neighbors)
            else:
                pseudo = logits_w.argmax(dim=1)
                self.seen += len(x)
        feats_q, logits_q = features_and_logits(self.model, x_q)
        with torch.no_grad():
            ema_update(self.key_model.parameters(), self.model.parameters(), self.ema)
            keys = F.normalize(self.key_model.forward_features(x_k), dim=1)
        logits_ins = instance_logits(feats_q, keys, self.queue.clone(), self.temperature)
        # the code writes the keys before the loss: the class-aware mask already sees this batch's labels
        self.queue_ptr = enqueue(self.queue, self.queue_labels, self.queue_ptr, keys, pseudo)
        loss = adacontrast_loss(logits_q, pseudo, logits_ins, self.queue_labels, self.alpha, self.beta, self.eta)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            bank_feats, bank_logits = features_and_logits(self.key_model, x_w)
            self.bank_feats, self.bank_probs, self.bank_ptr = update_bank(
                self.bank_feats, self.bank_probs, self.bank_ptr, bank_feats, bank_logits.softmax(dim=1),
                self.queue_size)
            self.model.eval()
            return self.model(x)
