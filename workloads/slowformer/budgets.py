"""How long, at what batch and learning rate the patch is optimised against each efficient ViT, and the ATS loss
weights per model size, as the authors ran them (dissertation App. C.4; UCDvision/SlowFormer scripts).

Two readings (``attack_budget``): ``official`` follows the released scripts where they set a value and the text
where they are silent; ``text`` reads App. C.4 literally. They differ in ATS-Tiny's lr and AdaViT's batch
(docs/FIDELITY.md):

- A-ViT: avit/run.sh ``--epochs 1 --batch-size 128`` on 4 processes (torch.distributed.launch, so 512 in all); the
  lr is 0.2 whatever ``--lr`` says, since main_act.py:543-565 ``adjust_learning_rate`` sets 0.2 every epoch;
  App. C.4: "4 epochs for patch length 32 and below" (Table 4.4), which no script sets. Last batch kept
  (main_act.py:271-277, drop_last=False).
- ATS: the release has no attack script; App. C.4 gives 2 epochs at batch 1024 and lr 0.4 for DeiT-Tiny, 0.2 for
  Small and Base. AdaptiveTokenSampling/tools/train.py:483-504 has the same ``adjust_learning_rate``, which sets
  lr 0.2 every epoch for any ``--lr``: ``official`` is 0.2 for every size, ``text`` 0.4 for Tiny. Its train loader
  drops the last short batch (train.py:565-572).
- AdaViT: ada_vit/run.sh ``--batch-size 128 --num-gpu 4`` in one process with nn.DataParallel (ada_main.py:614),
  which splits that batch over the GPUs: 128 in all; ada_main.py's ``lr = .2``; its ``--epochs`` default is 300
  although its help says 2, and App. C.4 says 2 epochs. ``text`` reads "a batch size of 128 with 4 GPUs" as
  128 per GPU, 512 in all, as it says for A-ViT. timm's create_loader(is_training=True) drops the last batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEIT_SIZES = {"deit_tiny_patch16_224": "tiny", "deit_small_patch16_224": "small", "deit_base_patch16_224": "base"}

# App. C.4, one weight per ATS block (1-based blocks 3..9); AdaptiveTokenSampling/engine.py:136 sets the DeiT-Small
# list for every run (its --arch default is deit_small), with other profiles left commented out
ATS_WEIGHTS = {
    "tiny": (1.0, 0.2, 0.2, 0.2, 0.01, 0.01, 0.01),
    "small": (1.0, 0.2, 0.05, 0.01, 0.005, 0.005, 0.005),
    "base": (2.0, 0.1, 0.02, 0.01, 0.005, 0.005, 0.005),
}
ATS_WEIGHTS_ENGINE = ATS_WEIGHTS["small"]


@dataclass(frozen=True)
class AttackBudget:
    epochs: float
    batch_size: int
    lr: float
    drop_last: bool = False  # the script's train loader drops the last short batch of an epoch


def deit_size(arch: str) -> str | None:
    """tiny / small / base for the DeiT (and A-ViT / ATS / AdaViT) backbones the paper attacks, else None."""
    return DEIT_SIZES.get(arch)


def attack_budget(method: str, arch: str, patch_size: int, reading: str = "official") -> AttackBudget:
    """The patch optimisation budget of ``method`` on ``arch`` with a ``patch_size`` patch (224-pixel units),
    by the module docstring's table (App. C.4 and the scripts named there)."""
    if reading not in ("official", "text"):
        raise ValueError(f"attack budget reading {reading!r}: use official or text")
    if method == "avit":
        return AttackBudget(epochs=4.0 if patch_size <= 32 else 1.0, batch_size=512, lr=0.2)
    if method == "adavit":
        return AttackBudget(epochs=2.0, batch_size=128 if reading == "official" else 512, lr=0.2, drop_last=True)
    if method == "ats":
        size = deit_size(arch)
        if size is None:
            raise ValueError(f"ATS's attack lr is set per DeiT size (App. C.4: 0.4 Tiny, 0.2 Small/Base) and arch={arch!r} "
                             f"is none of {sorted(DEIT_SIZES)}; use one of them or attack_budget: config with attack_lr.")
        return AttackBudget(epochs=2.0, batch_size=1024, lr=0.4 if size == "tiny" and reading == "text" else 0.2,
                            drop_last=True)
    raise ValueError(f"no attack budget for method={method!r}; methods are avit, ats, adavit")


def steps_for_epochs(epochs: float, n_train: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimisation steps of ``epochs`` passes over ``n_train`` images at ``batch_size``: ceil(N/B) batches per
    pass, floor(N/B) where the loader drops the last short batch (at least one step, for tiny test sets)."""
    if epochs <= 0 or n_train <= 0 or batch_size <= 0:
        raise ValueError(f"epochs={epochs}, n_train={n_train}, batch_size={batch_size} must all be positive")
    per_pass = n_train // batch_size if drop_last else math.ceil(n_train / batch_size)
    return max(1, math.ceil(epochs * per_pass))


def resample(weights: tuple[float, ...], n: int) -> list[float]:
    """``weights`` stretched to ``n`` layers by nearest index (small ViTs with fewer ATS blocks than DeiT's 7)."""
    idx = [round(i * (len(weights) - 1) / max(1, n - 1)) for i in range(n)]
    return [weights[i] for i in idx]


def ats_layer_weights(arch: str, n_layers: int, reading: str = "per_size") -> list[float]:
    """The per-ATS-layer loss weights (Eq. 4.5's weighted sum). ``per_size``: App. C.4's list for the DeiT size;
    ``engine``: AdaptiveTokenSampling/engine.py:136's list (DeiT-Small's) for every size. Other backbones (the
    small ViTs of mini scale) get the DeiT-Tiny profile resampled to their number of ATS layers."""
    if reading not in ("per_size", "engine"):
        raise ValueError(f"ats_weights={reading!r}: use per_size or engine")
    size = deit_size(arch)
    if size is None:
        return resample(ATS_WEIGHTS["tiny"], n_layers)
    weights = ATS_WEIGHTS[size] if reading == "per_size" else ATS_WEIGHTS_ENGINE
    if n_layers != len(weights):
        raise ValueError(f"{arch} has {len(weights)} ATS loss weights (blocks 3..9, App. C.4) but {n_layers} ATS layers "
                         f"are configured; leave ats_layers empty or give ats_loss_weights, one per layer.")
    return list(weights)
