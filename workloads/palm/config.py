"""Configuration of the ``palm`` workload (defaults: the authors' code's setting for the chosen data set)."""
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
    reading: Literal["official", "paper"] = "official"  # official: what the authors' code computes (default);
                                               # paper: the text's reading where it differs (docs/FIDELITY.md (palm))
    kappa: float = 0.0                         # PALM base LR κ (Eq. 8); 0 = the code's value for the dataset (5e-4 CIFAR, 5e-5 ImageNet)
    alpha: float = -1.0                        # sensitivity EMA factor α (Eq. 5); <0 = the code's (1 - BETA3: 0.5 / 0.9 / 0.5)
    temperature: float = 0.0                   # softmax temperature T of Eq. 1; 0 = the code's (50 / 100 / 1000)
    eta: float = 0.0                           # selection threshold η on ‖∇‖₁; 0 = the code's (1 / 0.5 / 0.3)
    lam: float = 0.01                          # consistency weight λ (Eq. 11); PALM official and LAW use λ·C
    weight_decay: float = -1.0                 # PALM Adam L2 weight decay; <0 = the code's (0 / 5e-4 CIFAR-100-C / 0)
    importance_from: Literal["kl", "pseudo_label"] = "kl"     # Table 7: gradients of Eq. 1 or of pseudo-labels
    optimizer: Literal["palm", "lars", "prodigy", "adafactor"] = "palm"  # Table 6: PALM's LR rule or a plain optimizer
    tent_lr: float = 0.0                       # TENT LR; 0 = the code's (Adam 1e-3 CIFAR, SGD 2.5e-4 ImageNet)
    tent_optimizer: Literal["auto", "adam", "sgd"] = "auto"   # auto: Adam on CIFAR/digits, SGD-Nesterov on ImageNet-C
    cotta_lr: float = 0.0                      # CoTTA LR; 0 = the code's (Adam 1e-3 CIFAR, SGD 0.01 ImageNet)
    cotta_optimizer: Literal["auto", "adam", "sgd"] = "auto"  # auto: Adam on CIFAR/digits, SGD-Nesterov on ImageNet-C
    cotta_loss: Literal["auto", "ce", "symmetric"] = "auto"   # auto: teacher→student CE on CIFAR, symmetric on ImageNet-C
    law_lr: float = 0.0                        # LAW base LR; 0 = the code's (1e-3 / 5e-5 / 2e-4)
    law_tau: float = 0.0                       # LAW exponent τ of the min-max scaled FIM; 0 = the code's (1.0 / 0.6 / 1.0)
    surgical_lr: float = 0.0                   # surgical fine-tuning SGD LR; 0 = the paper's (1e-3 CIFAR, 5e-4 ImageNet)
    cotta_ema: float = 0.999                   # CoTTA teacher EMA
    cotta_restore: float = -1.0                # CoTTA stochastic-restore probability; <0 = the code's (0.01 CIFAR, 0.001 ImageNet)
    cotta_threshold: float = 0.0               # CoTTA anchor confidence threshold; 0 = the code's (0.92 CIFAR-10, 0.72 CIFAR-100, 0.1 ImageNet)
    cotta_augmentations: int = 32              # CoTTA teacher augmentations


# The authors' per-dataset settings: sarthaxxxxx/PALM classification/cfgs/<dataset>/{ours,tent,cotta,law,surgical}.yaml
# (LAW's also junia3/LayerwiseTTA cfgs/*/law.yaml; TENT on CIFAR: DequanWang/tent cfgs, Adam 1e-3); digits-c and
# synthetic follow CIFAR-10-C's.
_CIFAR10 = dict(kappa=5e-4, alpha=0.5, temperature=50.0, eta=1.0, weight_decay=0.0, batch_size=200,
                tent_lr=1e-3, tent_optimizer="adam", cotta_lr=1e-3, cotta_optimizer="adam", cotta_loss="ce",
                cotta_restore=0.01, cotta_threshold=0.92, law_lr=1e-3, law_tau=1.0, surgical_lr=1e-3)
PAPER_SETTINGS: dict[str, dict[str, float | str]] = {
    "cifar10c": _CIFAR10,
    "cifar100c": _CIFAR10 | dict(alpha=0.9, temperature=100.0, eta=0.5, weight_decay=5e-4, cotta_threshold=0.72,
                                 law_lr=5e-5, law_tau=0.6),
    "imagenetc": _CIFAR10 | dict(kappa=5e-5, alpha=0.5, temperature=1000.0, eta=0.3, batch_size=64, tent_lr=2.5e-4,
                                 tent_optimizer="sgd", cotta_lr=0.01, cotta_optimizer="sgd", cotta_loss="symmetric",
                                 cotta_restore=0.001, cotta_threshold=0.1, law_lr=2e-4, law_tau=1.0, surgical_lr=5e-4),
    "digits-c": _CIFAR10 | dict(batch_size=100),
    "synthetic": _CIFAR10 | dict(batch_size=32),
}
# fields whose "use the preset" value is negative rather than 0 (0 is a meaningful value for them)
_NEGATIVE_MEANS_AUTO = ("alpha", "weight_decay", "cotta_restore")


def resolve(cfg: PalmConfig) -> PalmConfig:
    """Fill the "auto" fields with the paper's value for ``cfg.dataset``."""
    import dataclasses

    preset = PAPER_SETTINGS[cfg.dataset]
    changes = {}
    for key, value in preset.items():
        current = getattr(cfg, key)
        if isinstance(current, str):
            auto = current == "auto"
        else:
            auto = current < 0 if key in _NEGATIVE_MEANS_AUTO else current == 0
        if auto:
            changes[key] = type(current)(value)
    return dataclasses.replace(cfg, **changes)
