"""What a ``nola`` trial reads from disk: the few-shot / from-scratch data set, the E2E CSVs and the pre-trained
backbones the paper took as given (timm ViTs, Hugging Face GPT-2 folders under ``<data>/checkpoints/nola/``)."""
from __future__ import annotations

from pathlib import Path

from workloads.common.requirements import (Requirement, checkpoint_dir, checkpoint_requirement, dataset_requirement,
                                           datasets, missing_of, under_root)
from workloads.common.transfer_layouts import TRANSFER_SETS, missing_files
from workloads.nola.config import NolaConfig

E2E_FOLDER = "e2e"
E2E_FILES = ("trainset.csv", "testset_w_refs.csv")
# the paper's few-shot backbone when none is named, and its data set
PAPER_BACKBONE, PAPER_FEWSHOT_DATA, PAPER_SCRATCH_DATA = "vit_b16_in21k", "cifar10", "mnist"
# Tables 3.15 / B.12 and 3.16's columns read in their release layouts (workloads.nola.fewshot_transfer)
FEWSHOT_TRANSFER_SETS = ("cub200", "caltech101", "aircraft", "food101", "pets", "sun397")
# read from their pickles: the k shots from the training batches, scored on the test batch (vit/dataloader.py)
CIFAR_FEWSHOT = ("cifar10", "cifar100")
GPT2_FILES_HINT = ("GPT2LMHeadModel.from_pretrained(arch).save_pretrained(DIR) and "
                   "AutoTokenizer.from_pretrained(arch).save_pretrained(DIR)")


def fewshot_dataset(cfg: NolaConfig, scale: str) -> str:
    """The few-shot data set: ``auto`` is synthetic at smoke, digits(-c) at mini and CIFAR-10 at paper; a paper-scale
    trial never falls back to the small data sets."""
    if cfg.dataset != "auto":
        return cfg.dataset
    return {"smoke": "synthetic", "mini": "digits"}.get(scale, PAPER_FEWSHOT_DATA)


def scratch_dataset(cfg: NolaConfig, scale: str) -> str:
    if cfg.dataset != "auto":
        return cfg.dataset
    return {"smoke": "synthetic", "mini": "digits"}.get(scale, PAPER_SCRATCH_DATA)


def e2e_arch(cfg: NolaConfig) -> str:
    return "gpt2-medium" if cfg.arch == "auto" else cfg.arch


def gpt2_folder(cfg: NolaConfig, data_root: str | Path) -> Path:
    """The Hugging Face GPT-2 folder of paper-scale E2E: ``checkpoint`` (relative: under the data root) or
    ``<data>/checkpoints/nola/<arch>``."""
    return under_root(cfg.checkpoint, data_root) if cfg.checkpoint else checkpoint_dir(data_root, "nola") / e2e_arch(cfg)


def vit_checkpoint_file(cfg: NolaConfig, data_root: str | Path) -> Path:
    """The timm ViT of paper-scale few-shot (workloads.nola.vit_checkpoint.resolve_checkpoint reads the same)."""
    from workloads.nola.vit_checkpoint import default_checkpoint_path  # (deferred: that module imports torch)

    backbone = cfg.backbone or PAPER_BACKBONE
    return under_root(cfg.checkpoint, data_root) if cfg.checkpoint else default_checkpoint_path(data_root, backbone)


def requirements(cfg: NolaConfig, data_root: str | Path, scale: str) -> list[Requirement]:
    if cfg.experiment == "subspace":
        return []
    if cfg.experiment == "e2e":
        if scale != "paper":
            return []  # smoke/mini: a generated corpus and a GPT-2 trained here
        folder = Path(data_root) / E2E_FOLDER
        data = Requirement("data", "e2e", folder, f"{E2E_FOLDER}/{{{', '.join(E2E_FILES)}}} (the E2E NLG challenge CSVs)",
                           missing_of(folder / f for f in E2E_FILES), "the E2E NLG dataset (tuetschek/e2e-dataset)")
        gpt2 = gpt2_folder(cfg, data_root)
        missing_weights = not any((gpt2 / w).is_file() for w in ("model.safetensors", "pytorch_model.bin"))
        ckpt = checkpoint_requirement(f"nola GPT-2 {e2e_arch(cfg)}", gpt2,
                                      "Hugging Face folder: config.json, model.safetensors|pytorch_model.bin, tokenizer",
                                      GPT2_FILES_HINT, folder=True, files=("config.json",))
        if missing_weights and ckpt.found:
            ckpt = Requirement(ckpt.kind, ckpt.name, ckpt.path, ckpt.layout, (gpt2 / "model.safetensors",), ckpt.hint)
        return [data, ckpt]
    if cfg.experiment == "scratch":
        return datasets(dataset_requirement(scratch_dataset(cfg, scale), data_root, splits=("train", "test")))
    name = fewshot_dataset(cfg, scale)
    if name in FEWSHOT_TRANSFER_SETS:
        info = TRANSFER_SETS[name]
        out = [Requirement("data", name, Path(data_root) / info.folder, info.layout, missing_files(name, data_root),
                           info.source)]
    else:
        splits = ("train", "test") if name in CIFAR_FEWSHOT and scale != "smoke" else ("train",)
        out = datasets(dataset_requirement(name, data_root, splits=splits))
    if scale == "paper" or cfg.backbone:
        from workloads.nola.vit_checkpoint import backbone_info

        name = backbone_info(cfg.backbone or PAPER_BACKBONE).timm_name
        out.append(checkpoint_requirement(f"nola ViT {name}", vit_checkpoint_file(cfg, data_root),
                                          f"timm state_dict of {name}",
                                          f"torch.save(timm.create_model('{name}', pretrained=True).state_dict(), ...)"))
    return out
