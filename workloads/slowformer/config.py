"""Configuration of the ``slowformer`` workload (dissertation Sec. 4.1, App. C.4)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal


@dataclass
class SlowFormerConfig:
    method: Literal["avit", "ats", "adavit"] = "avit"       # efficient ViT under attack
    attack: Literal["none", "random", "slowformer", "tap", "ntap"] = "slowformer"  # Table 4.1 rows
    arch: str = "small_vit"             # dense backbone: small_vit (mini/smoke) or deit_tiny/small/base_patch16_224
    dataset: str = "digits"             # synthetic | digits | cifar10 | imagenet
    image_size: int = 0                 # 0 = the data set's size (paper CIFAR-10 runs use 224)
    checkpoint: str = ""                # local dense checkpoint (paper scale); empty = train the dense model here
    efficient_checkpoint: str = ""      # local A-ViT/AdaViT checkpoint (authors' release); empty = fine-tune here
    require_checkpoints: bool = False   # missing checkpoint/efficient_checkpoint is an error, never a training run (always
                                        # so at paper scale; defaults under <data>/checkpoints/slowformer/, requirements.py)
    patch_size: int = 64                # patch side in 224-pixel units (16/32/48/64), scaled to the image's area fraction
    location: Literal["top_left", "random"] = "top_left"    # where the patch is pasted
    accuracy: Literal["agnostic", "preserve", "destroy"] = "agnostic"  # ±L_task (Table 4.3)
    epsilon: float = 0.0                # >0: ℓ∞-bounded universal perturbation (/255) instead of a patch (Table 4.5)
    tap_target: int = -1                # TAP class; -1 = tap_targets classes drawn from the seed
    tap_targets: int = 10               # TAP row = mean over this many target classes (Sec. 4.1.5.1: ten random labels)
    attack_budget: Literal["config", "official", "text"] = "config"  # config: attack_steps/_batch_size/_lr as given;
                                        # official/text: per-method epochs, batch and lr of the scripts / App. C.4
                                        # (budgets.py), replacing those three and attack_epochs
    attack_epochs: float = 0.0          # >0: passes over the training set instead of attack_steps
    attack_steps: int = 300             # patch optimisation iterations (paper: 1–4 epochs)
    attack_lr: float = 0.2              # AdamW lr on the patch (A-ViT 0.2, ATS 0.4/0.2, AdaViT 0.2), in the units of patch_space
    patch_space: Literal["normalized", "pixel"] = "normalized"  # official: patch optimised in normalised input space, init
                                        # U(−0.5, 0.5) there, floored to 256 levels; pixel: the text's U[0, 255], values/255
    attack_batch_size: int = 64         # patch optimisation batch
    ats_loss_weights: list[float] = field(default_factory=list)  # per ATS layer; empty = by ats_weights
    ats_weights: Literal["per_size", "engine"] = "per_size"  # per_size: App. C.4's list per DeiT size; engine: the
                                        # list AdaptiveTokenSampling/engine.py:136 sets for every size (Small's)
    alpha_p: float = 5e-4               # ponder loss weight α_p (A-ViT training and attack)
    alpha_d: float = 1e-3               # distribution prior weight α_d (official run.sh / NVlabs README: 1e-3)
    avit_loss: Literal["official", "paper"] = "official"   # official: −α_p ρ̄ + α_d KL (KL minimised, only when > 0);
                                        # paper: −(α_d L_distr + α_p L_ponder) as the text writes it (KL maximised)
    avit_prior: Literal["official", "paper"] = "official"  # official: get_distribution_target + raw-score profile, KL/L;
                                        # paper: normalised Gaussian at 5L/6 (1-based) vs the masked profile, KL summed
    target_depth: float = 0.0           # prior centre; 0 = the reading's default (official 0-based round(2L/3) = 8 of 12;
                                        # paper 1-based 5L/6); official takes an integer 0-based layer
    halt_eps: float = 0.01              # ε of the 1 − ε halting threshold
    gate_scale: float = 10.0            # halting gate: sigmoid(γ·t₀ − β), γ
    gate_center: float = 30.0           # β (A-ViT uses 30 for DeiT; small models start from a lower gate)
    ats_layers: list[int] = field(default_factory=list)  # 0-based ATS blocks; empty = blocks 3..9 (1-based) of 12, scaled
    max_tokens: int = 197               # ATS upper limit on sampled tokens
    ats_sampling: Literal["official", "midpoint"] = "official"  # official: ats_block.py (sorted CDF, nearest point);
                                        # midpoint: points (k+0.5)/n through searchsorted, tokens in original order
    adavit_gates: Literal["attn_mlp", "block"] = "attn_mlp"  # official: attention and MLP gates per block; block: the
                                        # text's one keep/skip decision per block (Eq. 4.2)
    gamma_p: float = 0.5                # AdaViT usage budgets for training (patches, heads, blocks)
    gamma_h: float = 0.5
    gamma_b: float = 0.7
    decision_lr_scale: float = 20.0     # AdaViT decision networks' lr ÷ finetune_lr (new layers vs a trained backbone)
    source_epochs: int = 30             # dense model training (when no checkpoint)
    source_lr: float = 1e-3
    source_batch_size: int = 128        # dense-model batch (small data sets learn faster with 32: more steps per epoch)
    source_augment: bool = False        # random-crop augmentation of the dense model (hurts the short digits schedule)
    finetune_epochs: int = 10           # A-ViT / AdaViT fine-tuning from the dense weights
    finetune_lr: float = 5e-4
    batch_size: int = 128               # fine-tuning / evaluation batch
    defense: bool = False               # adversarial training with a growing patch pool (Table 4.6)
    defense_epochs: int = 1             # epochs of adversarial fine-tuning
    defense_patch_steps: int = 500      # iterations per pool patch
    defense_patch_lr: float = 0.8       # lr of pool patches
    n_train: int = 0                    # synthetic: samples; >0 caps the training set of other data sets
    n_test: int = 0                     # >0 caps the test set
    embed_dim: int = 96                 # small_vit width
    depth: int = 6                      # small_vit depth
    num_heads: int = 3                  # small_vit heads
    vit_patch: int = 4                  # small_vit token side in pixels (4 → 64 tokens on 32×32, 8 → 16 tokens)

    def resolved(self, env: Any) -> "SlowFormerConfig":
        """The config that runs (``orchestrator.context.resolved_config``): the weight files by
        ``requirements.resolved``'s rule and ``image_size: 0`` as the data set's size (``workload.load_data``)."""
        from workloads.common.datasets import dataset_info
        from workloads.slowformer.requirements import resolved as with_weight_paths  # (deferred: imports this)

        cfg = with_weight_paths(self, env.data_root, env.scale)
        return replace(cfg, image_size=cfg.image_size or dataset_info(cfg.dataset).image_size)
