"""Configuration of the ``cmsf`` workload (dissertation Sec. 2.1.3-2.1.4)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class CmsfConfig:
    method: Literal["byol", "msf", "cmsf_self", "cmsf_sup", "cmsf_semi"] = "cmsf_self"  # setting of Sec. 2.1.3
    dataset: str = "digits"        # synthetic | digits | imagenet | imagenet100 (paper data under data_root)
    arch: str = "auto"             # backbone; auto: small_cnn (width 8 at smoke, 32 at mini), resnet50 (paper)
    n_train: int = 0               # synthetic only: number of images (0 = 256)
    epochs: int = 0                # 0 = auto: 2 (smoke), 30 (mini), 200 (paper)
    steps: int = 0                 # >0 caps the total number of training steps (smoke)
    batch_size: int = 0            # 0 = auto: 32 (smoke), 64 (mini), 256 (paper)
    lr: float = 0.05               # SGD learning rate, cosine schedule (Sec. 2.1.4)
    weight_decay: float = 1e-4     # SGD weight decay (Sec. 2.1.4)
    momentum: float = 0.99         # EMA m of the target encoder (Sec. 2.1.4)
    memory_size: int = 0           # |M|; 0 = auto: the training set size (mini/smoke), 128000 (paper)
    topk: int = 0                  # k of top-k incl. the target; 0 = auto: 1 byol, 5 self/msf, 10 sup/semi
    top_all: bool = False          # cmsf_sup top-all: S_i = C_i (Table 2.2/2.5)
    include_target: bool = True    # u_i is part of S_i; false = Table A.10(d)'s "target not in top-k"
    k_prime: int = 5               # cmsf_self: size of C_i, the top-k' of w_i in M' (Table 2.3); 0 = same as topk (Table A.2)
    # official: C_i's k' positions include the query's own entry (M'[own] = w_i), authors' train_cmsf_self.py
    # l.193-198; others: k' neighbours besides it (k'+1 positions), the project's earlier reading of the text
    k_prime_reading: Literal["official", "others"] = "official"
    # random: M and the M' pool start as random vectors (authors' code, l.118-122), so the first epoch's C_i is
    # the own entry + k'-1 random positions; empty: M starts empty and uncached queries fall back to C_i = M
    bank_init: Literal["random", "empty"] = "random"
    eval_encoder: Literal["online", "target"] = "online"  # backbone evaluated (authors' eval_*.py load encoder_q)
    target_bn: Literal["own", "copy"] = "own"  # target keeps its own BN statistics (authors) or copies the online ones
    proj_hidden: int = 0           # projection/predictor hidden width; 0 = auto: 64 (smoke), 256 (mini), 4096 (paper)
    proj_dim: int = 0              # embedding size; 0 = auto: 32 (smoke), 64 (mini), 512 (paper)
    label_noise: float = 0.0       # cmsf_sup: share of corrupted training labels (Fig. 2.6: 0.05..0.5)
    coarse: bool = False           # cmsf_sup: train with coarse labels, evaluate on fine ones (Table 2.5)
    coarse_map: str = ""           # JSON list fine->coarse class (needed for ImageNet-coarse)
    labelled_fraction: float = 0.1 # cmsf_semi: share of training images with labels (Table 2.6: 10 %)
    pseudo_threshold: float = 0.85 # cmsf_semi: confidence to trust a pseudo-label (Sec. 2.1.4.3)
    pseudo_epochs: int = 10        # cmsf_semi: epochs of each pseudo-labeller round (App. A.1.5.3, authors' script)
    pseudo_lr: float = 0.01        # cmsf_semi: lr of the new SGD optimiser of each round (App. A.1.5.3)
    pseudo_classifier: Literal["mlp2", "mlp3", "linear", "knn"] = "mlp2"  # cmsf_semi pseudo-labeller (Table A.7)
    pseudo_knn_k: int = 20         # pseudo_classifier=knn: neighbours that vote (the text gives none; at most the
                                   # labelled images per class x threshold can ever be confident)
    # cmsf_semi: the labelled embeddings the labeller trains on: cached u of each mini-batch (online, the authors'
    # --cache_sup) or recomputed by the target encoder at every round (offline); Table A.6
    pseudo_cache: Literal["online", "offline"] = "online"
    augment: Literal["strong", "weak"] = "strong"  # view augmentation (BYOL recipe = strong)
    multi_crop: int = 0            # extra small crops for the online encoder only (Sec. 2.1.4: SwAV's 4 x 96 px)
    multi_crop_size: int = 0       # their side (px); 0 = auto: 96/224 of the image side (96 at 224 px)
    linear_epochs: int = 0         # linear-probe epochs; 0 = auto: 5 (smoke), 40 (mini/paper)
    lowshot: bool = False          # also linear probes on 1 % / 10 % of the training labels (Table 2.4)
    finetune: bool = False         # also fine-tune backbone + 2-layer MLP on 10 % labels (Table A.8; semi: its labels)
    finetune_epochs: int = 0       # 0 = auto: 2 (smoke), 20 (App. A.1.5.3)
    compute_only: bool = False     # Table A.11: report Eq. A.1's passes/FLOPs for this config and train nothing
    forward_flops: float = 0.0     # FLOPs of one backbone forward for Eq. A.1; 0 = auto: 3.9e9 at paper (the text's
                                   # ResNet-50 value), the measured multiply-adds of the backbone otherwise
    diagnostics_every: int = 5     # measure purity/rank every n steps (costs one dense search)
    checkpoint_every: int = 0      # epochs between ctx.checkpoint() saves (0 = only at paper scale, every epoch)
