"""Configuration of the ``palm`` workload (defaults: the authors' code's setting for the chosen data set)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Method = Literal["source", "bn_adapt", "tent", "cotta", "law", "surgical", "palm", "adacontrast", "ecotta"]


@dataclass
class PalmConfig:
    method: Method = "palm"                    # CTTA method
    dataset: Literal["synthetic", "digits-c", "cifar10c", "cifar100c", "imagenetc"] = "digits-c"  # test stream
    protocol: Literal["ctta", "gtta"] = "ctta"  # continual (severity 5) or gradual (1→5→1 per task)
    severity: int = 5                          # CTTA severity
    arch: str = "auto"                         # auto: small_cnn (synthetic/digits-c), wrn28_10, resnext29_32x4d, resnet50
    checkpoint: str = "auto"                   # source weights: auto = <data_root>/checkpoints/palm/<dataset>/corruptions/
                                               # <RobustBench file> at paper scale (requirements.py), trained and cached
                                               # here at mini/smoke; or a local path (relative: under the data root)
    source_epochs: int = 15                    # epochs of the cached source model (mini/smoke)
    batch_size: int = 0                        # test batch size; 0 = the paper's (200 CIFAR, 64 ImageNet; 100 digits, 32 synthetic)
    n_per_task: int = 0                        # test samples per task (a seeded subset); 0 = the code's: all (CIFAR-C,
                                               # digits-c), 5000 per corruption on ImageNet-C (RobustBench's list size)
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
    adacontrast_lr: float = 2e-4               # AdaContrast SGD-Nesterov LR (cfgs/*/adacontrast.yaml: 2e-4 on all three)
    adacontrast_queue: int = 16384             # AdaContrast MoCo queue and kNN bank size (conf.py QUEUE_SIZE)
    adacontrast_neighbors: int = 10            # AdaContrast soft-kNN neighbours (conf.py NUM_NEIGHBORS)
    ecotta_parts: int = 5                      # EcoTTA partition factor K (Lily-Le/EcoTTA: K=5)
    ecotta_lr: float = 5e-3                    # EcoTTA adaptation SGD LR (momentum 0.9), main.py --lr_tta
    ecotta_lambda: float = 0.25                # EcoTTA self-distilled regularisation weight λ, main.py --lambda_reg
    ecotta_warmup_epochs: int = 10             # EcoTTA meta-network warm-up on the clean source training set
    ecotta_warmup_lr: float = 0.05             # warm-up SGD LR (linear first epoch, ×0.2 at epochs 3, 6, 8)
    ecotta_warmup_batch: int = 64              # warm-up batch size
    ecotta_warmup_samples: int = 0             # cap of source training samples for the warm-up (0: all)

    def resolved(self, env: Any) -> "PalmConfig":
        """The config that runs (``orchestrator.context.resolved_config``): ``resolve``'s per-dataset values of
        the sentinel hyperparameters (``alpha=-1``, ``temperature=0``, ...), as ``run`` applies them, and the source
        model as ``workload.source_model`` picks it: ``arch: auto`` = ``requirements.source_arch``, ``checkpoint:
        auto`` = ``requirements.source_checkpoint``'s file ("" = trained and cached here, smoke/mini)."""
        import dataclasses

        from workloads.palm import requirements  # (deferred: it imports this module)

        path = requirements.source_checkpoint(self, env.data_root, env.scale)
        return dataclasses.replace(resolve(self), arch=requirements.source_arch(self),
                                   checkpoint=str(path) if path is not None else "")

    def not_applicable(self) -> set[str]:
        """Fields the chosen method never reads (MLflow groups them in one param). A field no method owns
        (data, stream, source model, ``reading``, which the tables group by) always applies, but for
        ``source_epochs`` when the source model is a file."""
        loaded = {"source_epochs"} if self.checkpoint not in ("", "auto") else set()  # a source file: not trained here
        if self.method not in METHOD_FIELDS:
            return loaded
        owned = set().union(*METHOD_FIELDS.values())
        return loaded | (owned - METHOD_FIELDS[self.method])


# Which method reads which of its own hyperparameters (workloads.palm.workload.build_adapter's arguments).
METHOD_FIELDS: dict[str, set[str]] = {
    "source": set(),
    "bn_adapt": set(),
    "tent": {"tent_lr", "tent_optimizer"},
    "surgical": {"surgical_lr", "lam"},
    "cotta": {"cotta_lr", "cotta_optimizer", "cotta_loss", "cotta_ema", "cotta_restore", "cotta_threshold",
              "cotta_augmentations"},
    "law": {"law_lr", "law_tau", "lam"},
    "palm": {"kappa", "alpha", "temperature", "eta", "lam", "weight_decay", "importance_from", "optimizer"},
    "adacontrast": {"adacontrast_lr", "adacontrast_queue", "adacontrast_neighbors"},
    "ecotta": {"ecotta_parts", "ecotta_lr", "ecotta_lambda", "ecotta_warmup_epochs", "ecotta_warmup_lr",
               "ecotta_warmup_batch", "ecotta_warmup_samples"},
}


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
    "imagenetc": _CIFAR10 | dict(kappa=5e-5, alpha=0.5, temperature=1000.0, eta=0.3, batch_size=64, n_per_task=5000,
                                 tent_lr=2.5e-4, tent_optimizer="sgd", cotta_lr=0.01, cotta_optimizer="sgd",
                                 cotta_loss="symmetric",
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
