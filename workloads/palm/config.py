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
    checkpoint: str = "auto"                   # source weights: auto = <data_root>/checkpoints/<arch>-<dataset>.pt at paper
                                               # scale (RobustBench/torchvision weights saved as a state_dict), trained
                                               # and cached here at mini/smoke; or an explicit local path
    source_epochs: int = 15                    # epochs of the cached source model (mini/smoke)
    batch_size: int = 0                        # test batch size; 0 = the paper's (200 CIFAR, 64 ImageNet; 100 digits, 32 synthetic)
    n_per_task: int = 0                        # cap of test samples per task (0: all)
    max_batches_per_task: int = 0              # cap of batches per task (0: all); smoke runs use 1-2
    kappa: float = 0.0                         # PALM base LR κ (Eq. 8); 0 = paper value for the dataset (5e-4 CIFAR, 5e-5 ImageNet)
    alpha: float = -1.0                        # sensitivity EMA factor α (Eq. 5); <0 = paper value (0.5 / 0.9 / 0.5)
    temperature: float = 0.0                   # softmax temperature T of Eq. 1; 0 = paper value (50 / 100 / 1000)
    eta: float = 0.0                           # layer-selection threshold η on ‖∇‖₁; 0 = paper value (1 / 0.5 / 0.3)
    lam: float = 0.01                          # consistency weight λ (Eq. 11)
    importance_from: Literal["kl", "pseudo_label"] = "kl"     # Table 7: gradients of Eq. 1 or of pseudo-labels
    optimizer: Literal["palm", "lars", "prodigy", "adafactor"] = "palm"  # Table 6: PALM's LR rule or a plain optimizer
    tent_lr: float = 1e-3                      # TENT / CoTTA Adam LR
    law_lr: float = 5e-4                       # LAW base LR
    law_tau: float = 1.0                       # LAW exponent τ of the min-max scaled FIM
    surgical_lr: float = 0.0                   # surgical fine-tuning SGD LR; 0 = paper value (1e-3 CIFAR, 5e-4 ImageNet)
    cotta_ema: float = 0.999                   # CoTTA teacher EMA
    cotta_restore: float = 0.01                # CoTTA stochastic-restore probability
    cotta_threshold: float = 0.0               # CoTTA anchor confidence threshold; 0 = CoTTA's (0.92 CIFAR-10, 0.72 CIFAR-100, 0.1 ImageNet)
    cotta_augmentations: int = 32              # CoTTA teacher augmentations


# The paper's per-dataset settings (Sec. 5.1); digits-c / synthetic follow CIFAR-10-C's.
PAPER_SETTINGS: dict[str, dict[str, float]] = {
    "cifar10c": dict(kappa=5e-4, alpha=0.5, temperature=50.0, eta=1.0, batch_size=200, cotta_threshold=0.92, surgical_lr=1e-3),
    "cifar100c": dict(kappa=5e-4, alpha=0.9, temperature=100.0, eta=0.5, batch_size=200, cotta_threshold=0.72, surgical_lr=1e-3),
    "imagenetc": dict(kappa=5e-5, alpha=0.5, temperature=1000.0, eta=0.3, batch_size=64, cotta_threshold=0.1, surgical_lr=5e-4),
    "digits-c": dict(kappa=5e-4, alpha=0.5, temperature=50.0, eta=1.0, batch_size=100, cotta_threshold=0.92, surgical_lr=1e-3),
    "synthetic": dict(kappa=5e-4, alpha=0.5, temperature=50.0, eta=1.0, batch_size=32, cotta_threshold=0.92, surgical_lr=1e-3),
}


def resolve(cfg: PalmConfig) -> PalmConfig:
    """Fill the "auto" fields with the paper's value for ``cfg.dataset``."""
    import dataclasses

    preset = PAPER_SETTINGS[cfg.dataset]
    changes = {}
    for key, value in preset.items():
        current = getattr(cfg, key)
        if (key == "alpha" and current < 0) or (key != "alpha" and current == 0):
            changes[key] = type(current)(value)
    return dataclasses.replace(cfg, **changes)
