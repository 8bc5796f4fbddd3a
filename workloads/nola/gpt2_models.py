"""GPT-2 language models for the E2E experiment: a local checkpoint (paper: GPT-2 M/L) or a small GPT-2
pre-trained here on the grammar corpus (mini/smoke), cached so that every trial of a sweep reuses it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from filelock import FileLock

from workloads.nola.word_tokenizer import HFTokenizer, WordTokenizer

# Small configurations trained here. n_positions bounds MR + reference length of the grammar (< 80 words).
HERE = {
    "gpt2-tiny": {"n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 96},
    "gpt2-mini": {"n_embd": 64, "n_layer": 3, "n_head": 4, "n_positions": 96},
}
PAPER = ("gpt2-medium", "gpt2-large")  # Table 3.10's models; any HF GPT-2 folder works through `checkpoint`


class GPT2CheckpointMissingError(FileNotFoundError):
    """The local GPT-2 folder is absent or incomplete."""


def _quiet_transformers() -> None:
    """Progress bars and config notices of transformers would flood every trial's log; errors still show."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def small_gpt2(arch: str, vocab_size: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    _quiet_transformers()
    if arch not in HERE:
        raise ValueError(f"no small GPT-2 named {arch!r}; trained-here sizes: {', '.join(HERE)}.")
    cfg = GPT2Config(vocab_size=vocab_size, bos_token_id=1, eos_token_id=1, pad_token_id=0,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **HERE[arch])
    return GPT2LMHeadModel(cfg)


def check_checkpoint_folder(folder: Path, arch: str) -> None:
    """Raise naming every missing file of a Hugging Face GPT-2 folder (weights, config, BPE tokenizer)."""
    folder = Path(folder)
    weights = ("model.safetensors", "pytorch_model.bin")
    problems = []
    if not folder.is_dir():
        problems.append(f"the folder itself (expected inside: config.json, {' or '.join(weights)}, "
                        "tokenizer.json or vocab.json + merges.txt)")
    else:
        if not (folder / "config.json").is_file():
            problems.append("config.json")
        if not any((folder / w).is_file() for w in weights):
            problems.append(" or ".join(weights))
        if not (folder / "tokenizer.json").is_file() and not all((folder / f).is_file() for f in ("vocab.json", "merges.txt")):
            problems.append("tokenizer.json (or vocab.json + merges.txt)")
    if problems:
        raise GPT2CheckpointMissingError(
            f"paper-scale E2E needs a local {arch} checkpoint folder at {folder}; missing: {'; '.join(problems)}. "
            f"Save one elsewhere with `GPT2LMHeadModel.from_pretrained('{arch}').save_pretrained(DIR)` and "
            f"`AutoTokenizer.from_pretrained('{arch}').save_pretrained(DIR)`, copy DIR there (or set `checkpoint:` "
            "to it); nothing is downloaded at run time.")


def load_gpt2_checkpoint(folder: Path, arch: str):
    from transformers import GPT2LMHeadModel

    _quiet_transformers()
    check_checkpoint_folder(folder, arch)
    model = GPT2LMHeadModel.from_pretrained(str(folder), local_files_only=True)
    return model, HFTokenizer(folder)


def _key(**config) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def pretrained_here(arch: str, pretrain_pairs: list[tuple[str, str]], vocab_texts: list[str], *, cache_dir: Path,
                    steps: int, seed: int, device: torch.device, batch_size: int = 32, lr: float = 3e-3):
    """A small GPT-2 language-model-trained on ``pretrain_pairs`` (MR and sentence), cached by its recipe.

    The file lock lets parallel trials of one sweep train it once; later trials only load it.
    """
    from transformers import GPT2LMHeadModel

    from workloads.nola.gpt2_e2e import train_lm

    _quiet_transformers()
    tok = WordTokenizer.from_texts(vocab_texts)
    key = _key(arch=arch, vocab=tok.vocab, data=hashlib.sha1(repr(pretrain_pairs).encode()).hexdigest(),
               steps=steps, seed=seed, batch=batch_size, lr=lr)
    folder = Path(cache_dir) / "nola-gpt2" / f"{arch}-{key}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock", timeout=3600):
        if (folder / "config.json").is_file():
            return GPT2LMHeadModel.from_pretrained(str(folder)).to(device), WordTokenizer.load(folder / "vocab.json")
        torch.manual_seed(seed)
        model = small_gpt2(arch, len(tok)).to(device)
        max_len = model.config.n_positions
        loss = train_lm(model, tok, pretrain_pairs, param_groups=[{"params": list(model.parameters()), "lr": lr}],
                        steps=steps, batch_size=batch_size, max_len=max_len, seed=seed, device=device,
                        warmup=max(1, steps // 20), prompt_loss=True)
        tmp = folder.with_suffix(".tmp")
        model.save_pretrained(str(tmp))
        tok.save(tmp / "vocab.json")
        (tmp / "pretrain.json").write_text(json.dumps({"arch": arch, "steps": steps, "final_loss": loss}))
        tmp.replace(folder)
    return model.eval(), tok
