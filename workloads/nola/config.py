"""Configuration of the ``nola`` workload (dissertation Sec. 3.2, App. B.10)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal


@dataclass
class NolaConfig:
    experiment: Literal["fewshot", "scratch", "subspace", "e2e"] = "fewshot"  # Tables 3.15/3.16 | B.10 | Fig. 3.7 | 3.10-3.13
    method: Literal["linear", "full", "lora", "nola", "pranc"] = "nola"  # what is trained
    dataset: str = "auto"            # auto: synthetic (smoke), digits (mini), cifar10 / mnist (paper); few-shot: + cub200, caltech101
    target_corruption: str = "gaussian_noise"  # few-shot target task at mini: digits-c with this corruption
    target_severity: int = 3         # its severity (1..5)
    arch: str = "auto"               # auto: small_vit (fewshot), mlp (scratch), gpt2-tiny/gpt2-mini (e2e smoke/mini); or resnet20, vit_base_patch16_224, gpt2-medium, gpt2-large
    backbone: str = ""               # few-shot pre-trained backbone (vit_checkpoint.BACKBONES: vit_b16_in21k, vit_l16_in21k, vit_b16_mae, vit_l16_mae); "" = vit_b16_in21k at paper scale, a small ViT trained here below
    checkpoint: str = ""             # paper scale: local checkpoint of the pre-trained backbone (e2e: HF GPT-2 folder, relative to the data root; default <data>/checkpoints/nola/<arch>)
    target: Literal["mlp", "qv", "qkv", "conv", "linear"] = "mlp"  # which layers the adapter goes into (e2e: qv or mlp)
    rank: int = 4                    # LoRA rank / NOLA basis rank r
    k: int = 1000                    # NOLA bases for A
    l: int = 1000                    # NOLA bases for B
    basis_size: int = 0              # >0 sets k = l = basis_size (the paper's k = l sweeps); 0 keeps k and l
    lora_alpha: float = 1.0          # c of the c/r scaling; <= 0: Table 3.12's rule (1 for rank >= 4, else 0.5)
    shared_basis: bool = True        # one random basis for all layers of one shape (Table 3.11)
    # NOLA init as in the authors' code (docs/FIDELITY.md (nola)): offset = GPT-2/LLaMA code (bases U(-1,1)/√k,
    # α = β = 0, frozen A₀ kaiming, B₀ = 0); vit = ViT code (kaiming bases, α = β = 1/k, no offset, Eq. 3.1 as printed);
    # auto = vit for few-shot, offset for e2e and scratch.
    nola_init: Literal["auto", "offset", "vit"] = "auto"
    batched: bool = True             # NOLA: ΔW of all matrices of one shape in one batched computation (same ΔW; faster)
    classifier_basis: int = 0        # from scratch on a CNN: > 0 also adapts the linear classifier with k = l = this (Table 3.17: 1000)
    train_norms: bool = True         # from scratch: BatchNorm weights and biases are trained (Table 3.17 counts them)
    pranc_bases: int = 2000          # PRANC coefficients (whole-network random basis)
    shots: int = 10                  # training images per class (few-shot); 0 = the whole training split
    sample: int = 0                  # which sampled few-shot training set (the paper averages 4)
    steps: int = 300                 # optimisation steps
    epochs: int = 0                  # few-shot: > 0 sets steps = epochs · floor(train images / batch_size) (vit/run.sh: 50 epochs)
    batch_size: int = 32             # images per step
    lr: float = 0.01                 # AdamW learning rate of the trained parameters
    head_lr: float = 0.01            # learning rate of the classifier head (few-shot); <= 0: the same as lr
    label_smoothing: float = 0.1     # few-shot cross-entropy smoothing (vit/train_timm.py l.286)
    lr_min: float = 1e-6             # few-shot cosine floor (vit/train_timm.py l.288: CosineAnnealingLR(..., 1e-6))
    quant_mode: Literal["none", "ptq", "qat"] = "none"  # coefficient quantization (Table 3.13)
    quant_bits: int = 8              # bits of the quantized coefficients (2..8; 16 = Table 3.13's 16-bit row)
    source_epochs: int = 20          # epochs of the source ViT trained here (mini/smoke)
    source_lr: float = 0.001         # AdamW learning rate of that source training
    source_batch: int = 128          # its batch size
    vit_dim: int = 96                # width of the small ViT trained here (mini/smoke few-shot)
    vit_depth: int = 6               # its blocks
    vit_patch: int = 4               # its patch size on 32x32 inputs (8 -> 16 tokens, 4x cheaper than 4)
    pretrain_steps: int = 0          # e2e: steps pre-training the small GPT-2 here (0 = auto: 40 smoke, 800 mini)
    decode: Literal["greedy", "beam"] = "greedy"  # e2e decoding (the paper: beam search, 10 beams)
    beams: int = 10                  # beams when decode = beam
    eval_mrs: int = 0                # e2e: test MRs decoded and scored (0 = all)
    max_len: int = 0                 # e2e: tokens of MR + reference (0 = auto: 512 paper, model's n_positions here)
    max_new_tokens: int = 64         # e2e: longest generated reference
    subspace_d: int = 8              # Fig. 3.7: ΔW is d×d
    subspace_n: int = 16             # Fig. 3.7: PRANC bases; NOLA uses k = l = n/2 (same coefficient count)
    subspace_rank: int = 1           # Fig. 3.7: rank of NOLA's bases

    def resolved(self, env: Any) -> "NolaConfig":
        """The config that runs (``orchestrator.context.resolved_config``): the data set (``requirements``'s
        ``fewshot_dataset``/``scratch_dataset``), the architecture, ``k = l = basis_size``, ``head_lr <= 0`` = lr,
        ``lora_alpha <= 0`` = Table 3.12's rule and ``nola_init: auto``, as the experiment's code picks them."""
        from workloads.nola import requirements  # (deferred: it imports this module)

        out = replace(self, lora_alpha=self.lora_alpha if self.lora_alpha > 0 else (1.0 if self.rank >= 4 else 0.5),
                      nola_init=self.nola_init if self.nola_init != "auto" else
                      ("vit" if self.experiment == "fewshot" else "offset"))
        if self.basis_size > 0:
            out = replace(out, k=self.basis_size, l=self.basis_size)
        if self.experiment == "fewshot":
            out = replace(out, dataset=requirements.fewshot_dataset(self, env.scale),
                          head_lr=self.head_lr if self.head_lr > 0 else self.lr)
        elif self.experiment == "scratch":
            out = replace(out, dataset=requirements.scratch_dataset(self, env.scale))
        if self.arch == "auto":
            out = replace(out, arch=nola_arch(self, env.scale))
        return out

    def not_applicable(self) -> set[str]:
        """The fields of the other experiments (MLflow groups them in one param): a few-shot run never reads the
        E2E decoding settings, an E2E run no few-shot data set, ..."""
        others = set().union(*EXPERIMENT_FIELDS.values()) - EXPERIMENT_FIELDS[self.experiment]
        return others | ({"dataset"} if self.experiment in ("subspace", "e2e") else set())  # E2E reads its own corpus


def nola_arch(cfg: NolaConfig, scale: str) -> str:
    """What ``arch: auto`` builds (workloads.nola.workload ``_source_vit`` / ``run_scratch``, e2e_experiment)."""
    if cfg.experiment == "e2e":
        return {"smoke": "gpt2-tiny", "mini": "gpt2-mini"}.get(scale, "gpt2-medium")
    if cfg.experiment == "fewshot":
        if scale == "paper" or cfg.backbone:
            from workloads.nola.vit_checkpoint import backbone_info  # (deferred: imports torch)

            return backbone_info(cfg.backbone or "vit_b16_in21k").arch
        return "small_vit"
    return "mlp"


# Fields only one experiment reads (every other field is shared or method-level, and always shown).
EXPERIMENT_FIELDS: dict[str, set[str]] = {
    "fewshot": {"target_corruption", "target_severity", "backbone", "shots", "sample", "epochs", "head_lr",
                "label_smoothing", "lr_min", "source_epochs", "source_lr", "source_batch", "vit_dim", "vit_depth",
                "vit_patch"},
    "scratch": {"train_norms", "pranc_bases"},
    "subspace": {"subspace_d", "subspace_n", "subspace_rank"},
    "e2e": {"pretrain_steps", "decode", "beams", "eval_mrs", "max_len", "max_new_tokens"},
}
