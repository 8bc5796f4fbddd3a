"""Configuration of the ``palm`` workload (defaults: the paper's CIFAR-10-C setting, Sec. 5.1)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Method = Literal["source", "bn_adapt", "tent", "cotta", "law", "surgical", "palm"]


@dataclass
class PalmConfig:
    method: Method = "palm"                    # CTTA method
    dataset: Literal["synthetic", "digits-c", "cifar10c", "cifar100c", "imagenetc"] = "digits-c"  # test stream
    protocol: Literal["ctta", "gtta"] = "ctta"  # continual (severity 5) or gradual (1→5→1 per task)
    severity: int = 5                          # CTTA severity
    arch: str = "auto"                         # auto: small_cnn (synthetic/digits-c), wrn28_10, resnext29_32x4d, resnet50
    checkpoint: str = ""                       # local source-model weights (paper scale); empty: train and cache one
    source_epochs: int = 15                    # epochs of the cached source model (mini/smoke)
    batch_size: int = 200                      # test batch size (200 CIFAR, 64 ImageNet)
    n_per_task: int = 0                        # cap of test samples per task (0: all)
    max_batches_per_task: int = 0              # cap of batches per task (0: all); smoke runs use 1-2
    kappa: float = 5e-4                        # PALM base LR κ (Eq. 8)
    alpha: float = 0.5                         # sensitivity EMA factor α (Eq. 5)
    temperature: float = 50.0                  # softmax temperature T of Eq. 1
    eta: float = 1.0                           # layer-selection threshold η on ‖∇‖₁
    lam: float = 0.01                          # consistency weight λ (Eq. 11)
    importance_from: Literal["kl", "pseudo_label"] = "kl"     # Table 7: gradients of Eq. 1 or of pseudo-labels
    optimizer: Literal["palm", "lars", "prodigy", "adafactor"] = "palm"  # Table 6: PALM's LR rule or a plain optimizer
    tent_lr: float = 1e-3                      # TENT / CoTTA Adam LR
    law_lr: float = 5e-4                       # LAW base LR
    law_tau: float = 1.0                       # LAW exponent τ of the min-max scaled FIM
    surgical_lr: float = 1e-3                  # surgical fine-tuning SGD LR (1e-3 CIFAR, 5e-4 ImageNet)
    cotta_ema: float = 0.999                   # CoTTA teacher EMA
    cotta_restore: float = 0.01                # CoTTA stochastic-restore probability
    cotta_threshold: float = 0.92              # CoTTA anchor confidence threshold (0.92 CIFAR-10, 0.72 CIFAR-100, 0.1 ImageNet)
    cotta_augmentations: int = 32              # CoTTA teacher augmentations
