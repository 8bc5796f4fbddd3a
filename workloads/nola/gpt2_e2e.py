"""GPT-2 on E2E-format data (dissertation Sec. 3.2.4.1, Tables 3.10-3.13): batches, training, decoding, scoring.

The setup follows LoRA's E2E recipe that NOLA reuses: each example is ``MR <eos> reference <eos>``; the
loss covers only the reference tokens and the closing ``<eos>`` (the MR is the prompt); evaluation
decodes from ``MR <eos>`` (greedy, or beam search as in the paper) and scores the hypotheses with BLEU
and ROUGE-L against all references of that MR (``e2e.bleu`` / ``e2e.rouge_l``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from workloads.nola.loop import optimise

IGNORE = -100  # label of positions without loss (prompt and padding), as torch's cross_entropy expects


def encode_example(tok, mr: str, ref: str | None, max_len: int) -> tuple[list[int], int]:
    """Token ids of ``MR <eos> [ref <eos>]`` and the prompt length; the MR is cut from the left if too long."""
    prompt = tok.encode(mr) + [tok.eos_token_id]
    # The leading space makes GPT-2's BPE see the reference's first word as a word start; words ignore it.
    target = [] if ref is None else tok.encode(" " + ref) + [tok.eos_token_id]
    prompt = prompt[-max(1, max_len - len(target)):]
    ids = (prompt + target)[:max_len]
    return ids, len(prompt)


def make_batch(tok, pairs: list[tuple[str, str]], max_len: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``/``attention_mask`` and ``labels`` that are IGNORE on the MR and padding."""
    encoded = [encode_example(tok, mr, ref, max_len) for mr, ref in pairs]
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(pairs), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    labels = torch.full((len(pairs), width), IGNORE, dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(encoded):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
        labels[i, n_prompt: len(ids)] = torch.tensor(ids[n_prompt:], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def lm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled positions (HF shifts the labels by one)."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss


def train_lm(model: nn.Module, tok, pairs: list[tuple[str, str]], *, param_groups: list[dict], steps: int,
             batch_size: int, max_len: int, seed: int, device: torch.device, warmup: int = 0,
             prompt_loss: bool = False, report: Callable[[int, float], None] | None = None) -> float:
    """AdamW (no weight decay, as in the paper) with linear warm-up and linear decay, as LoRA's E2E script.

    ``prompt_loss`` also trains on the MR tokens (pre-training a language model here); adaptation does not.
    Returns the mean loss over the last 10% of steps.
    """
    opt = torch.optim.AdamW(param_groups, weight_decay=0.0)
    warmup = min(warmup, max(0, steps - 1))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / (warmup + 1) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        batch = make_batch(tok, [pairs[i] for i in idx.tolist()], max_len)
        if prompt_loss:
            batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE)
        return lm_loss(model, {k: v.to(device) for k, v in batch.items()})

    model.train()
    losses = optimise(opt, sched, n=len(pairs), steps=steps, batch_size=batch_size, seed=seed,
                      batch_loss=batch_loss, report=report)
    tail = losses[-max(1, math.ceil(len(losses) / 10)):] if losses else [float("nan")]
    return sum(tail) / len(tail)


@torch.no_grad()
def generate(model: nn.Module, tok, mrs: list[str], *, max_len: int, max_new_tokens: int, num_beams: int = 1,
             batch_size: int = 32, device: torch.device | str = "cpu") -> list[str]:
    """Decode a reference for every MR: greedy (``num_beams=1``) or beam search, left-padded batches.

    Beam settings follow LoRA's E2E evaluation (no repeated 4-grams, length penalty 0.9).
    """
    model.eval()
    out: list[str] = []
    for start in range(0, len(mrs), batch_size):
        prompts = [encode_example(tok, mr, None, max_len - max_new_tokens)[0] for mr in mrs[start:start + batch_size]]
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(prompts):  # left padding: every prompt ends where generation starts
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        kw = {"num_beams": num_beams, "do_sample": False, "max_new_tokens": max_new_tokens,
              "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
        if num_beams > 1:
            kw.update(no_repeat_ngram_size=4, length_penalty=0.9, early_stopping=True)
        seqs = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kw)
        for row in seqs[:, width:].tolist():
            if tok.eos_token_id in row:
                row = row[: row.index(tok.eos_token_id)]
            out.append(tok.decode(row))
    return out


def score(hypotheses: list[str], references: list[list[str]]) -> dict[str, float]:
    """The E2E challenge's five metrics: BLEU and ROUGE-L (0-100, kept libraries), NIST, METEOR (0-1, exact-match
    stage only) and CIDEr-D as the official scorer reports them (``e2e_metrics``)."""
    from workloads.nola.e2e import bleu, rouge_l
    from workloads.nola.e2e_metrics import cider_d, meteor_exact, nist

    return {"bleu": bleu(hypotheses, references), "rouge_l": rouge_l(hypotheses, references),
            "nist": nist(hypotheses, references), "meteor": meteor_exact(hypotheses, references),
            "cider": cider_d(hypotheses, references)}
