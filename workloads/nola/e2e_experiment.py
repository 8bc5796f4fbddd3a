"""The E2E experiment of the ``nola`` workload (dissertation Sec. 3.2.4.1, Tables 3.10-3.13).

paper: a local GPT-2 M/L folder adapted on the E2E NLG Challenge CSVs under ``<data>/e2e/``.
mini/smoke: a small GPT-2 pre-trained here on E2E-format text made by a fixed slot grammar
(``e2e_grammar``; not the real E2E data), then adapted with LoRA/NOLA to the grammar's target phrasing.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from orchestrator.context import Context
from orchestrator.registry import ConfigError
from workloads.nola.config import NolaConfig
from workloads.nola.e2e import E2EDataMissingError, load_e2e
from workloads.nola.gpt2_e2e import generate, score, train_lm
from workloads.nola.gpt2_models import HERE, load_gpt2_checkpoint, pretrained_here
from workloads.nola.inject import inject_adapters, merge_all, trainable_count
from workloads.nola.requirements import E2E_FOLDER, e2e_arch, gpt2_folder

# Grammar corpus sizes per scale (distinct MRs; two references each).
CORPUS = {"smoke": {"pretrain_mrs": 60, "train_mrs": 40, "test_mrs": 6},
          "mini": {"pretrain_mrs": 3000, "train_mrs": 600, "test_mrs": 80}}
PRETRAIN_STEPS = {"smoke": 40, "mini": 800}


def _pairs(data: "dict[str, list[str]]") -> list[tuple[str, str]]:
    return [(mr, ref) for mr, refs in data.items() for ref in refs]


def _paper_data(cfg: NolaConfig, ctx: Context):
    folder = Path(ctx.data_root) / E2E_FOLDER
    try:
        train, test = load_e2e(folder / "trainset.csv"), load_e2e(folder / "testset_w_refs.csv")
    except E2EDataMissingError as err:
        raise E2EDataMissingError(f"{err} Expected layout: {folder}/trainset.csv and {folder}/testset_w_refs.csv.") from None
    arch = e2e_arch(cfg)
    model, tok = load_gpt2_checkpoint(gpt2_folder(cfg, ctx.data_root), arch)  # <data>/checkpoints/nola/<arch>
    return model.to(ctx.device), tok, _pairs(train), test, 512


def _grammar_data(cfg: NolaConfig, ctx: Context):
    from workloads.nola.e2e_grammar import GRAMMAR_VERSION, build_grammar_corpus

    scale = "smoke" if ctx.scale == "smoke" else "mini"
    arch = {"smoke": "gpt2-tiny", "mini": "gpt2-mini"}[scale] if cfg.arch == "auto" else cfg.arch
    if arch not in HERE:
        raise ConfigError(f"at {ctx.scale} scale e2e trains its GPT-2 here; arch must be auto or one of {', '.join(HERE)} "
                          f"(got {arch!r}). GPT-2 M/L checkpoints are for paper scale.")
    sizes = CORPUS[scale]
    folder = Path(ctx.cache_dir) / f"e2e-grammar-v{GRAMMAR_VERSION}" / "-".join(str(v) for v in sizes.values())
    files = build_grammar_corpus(folder, **sizes)
    pretrain, train, test = (load_e2e(files[k]) for k in ("pretrain", "train", "test"))
    texts = [t for d in (pretrain, train) for mr, refs in d.items() for t in [mr, *refs]]
    steps = cfg.pretrain_steps or PRETRAIN_STEPS[scale]
    model, tok = pretrained_here(arch, _pairs(pretrain), texts, cache_dir=Path(ctx.cache_dir), steps=steps,
                                 seed=0, device=ctx.device)
    return model, tok, _pairs(train), test, model.config.n_positions


def _quantizable(model) -> list:
    from workloads.nola.workload import adapter_deltas

    return adapter_deltas(model)


def run_e2e(cfg: NolaConfig, ctx: Context) -> None:
    """Fine-tune GPT-2 with LoRA / NOLA (or fully) on MR -> reference, decode the test MRs, score BLEU/ROUGE-L."""
    from workloads.nola.workload import adapter_numbers, adapter_spec, summarise_adapter

    if ctx.scale == "paper":
        model, tok, train, test, max_len = _paper_data(cfg, ctx)
    else:
        model, tok, train, test, max_len = _grammar_data(cfg, ctx)
    max_len = cfg.max_len or max_len
    if cfg.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    else:
        inject_adapters(model, "gpt2", cfg.target, adapter_spec(cfg, ctx.seed))
    model.to(ctx.device)
    for d in _quantizable(model):
        d.qat_bits = cfg.quant_bits if cfg.quant_mode == "qat" else None
    params = [p for p in model.parameters() if p.requires_grad]
    if ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(ctx.device)
    t0 = time.perf_counter()
    loss = train_lm(model, tok, train, param_groups=[{"params": params, "lr": cfg.lr}], steps=cfg.steps,
                    batch_size=cfg.batch_size, max_len=max_len, seed=ctx.seed, device=ctx.device,
                    warmup=min(500, cfg.steps // 10), report=lambda s, v: ctx.report(s, loss=v))
    seconds = time.perf_counter() - t0
    summary = {"train_seconds": seconds}
    if cfg.steps > 0:  # steps: 0 scores the pre-trained model as it is (the "before adaptation" reference)
        summary.update(train_loss=loss, ms_per_batch=1000.0 * seconds / cfg.steps)
    if ctx.device.type == "cuda":
        summary["train_memory_gb"] = torch.cuda.max_memory_allocated(ctx.device) / 1e9
    for d in _quantizable(model):
        if cfg.quant_mode != "none":
            d.quantize_(cfg.quant_bits)  # PTQ rounds once now; QAT stores the codes training already saw
        d.qat_bits = None
    n = adapter_numbers(model) if cfg.method != "full" else trainable_count(model)
    summary["trainable_k"] = n / 1000.0
    if cfg.method != "full":
        summarise_adapter(cfg, model, summary)
    merge_all(model)  # inference runs on W + ΔW folded together: no adapter overhead
    mrs = list(test)[: cfg.eval_mrs or None]
    hyps = generate(model, tok, mrs, max_len=max_len, max_new_tokens=cfg.max_new_tokens,
                    num_beams=cfg.beams if cfg.decode == "beam" else 1, device=ctx.device)
    summary.update(score(hyps, [test[mr] for mr in mrs]))
    sample = Path(ctx.work_dir) / "e2e_predictions.tsv"
    sample.write_text("".join(f"{mr}\t{h}\n" for mr, h in zip(mrs, hyps)), encoding="utf-8")
    ctx.artifact(sample)
    ctx.summary(**summary)
