"""GPT-2 training-step time, Table 3.11's setting: LoRA r=1 vs NOLA QV (rank 8, k = l = 1000) with a per-layer or a
shared random basis, batch 8. Paper (GPT-2 L, one GPU): 776 / 834 / 779 ms per batch, i.e. non-shared / LoRA = 1.075
and shared / LoRA = 1.004.

A randomly initialised GPT-2 of GPT-2 M's width (1024, 16 heads) with fewer blocks keeps CPU runs short; the
adapter overhead per block is what the ratio measures. Prints one JSON line.

    OMP_NUM_THREADS=1 python benchmarks/nola_gpt2_step.py [--layers 2] [--seq 64] [--iters 5]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from workloads.nola.inject import AdapterSpec, inject_adapters


def _model(layers: int, device: torch.device):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=layers, n_embd=1024, n_head=16, vocab_size=50257, n_positions=1024)
    return GPT2LMHeadModel(cfg).to(device)


def step_ms(model, ids: torch.Tensor, iters: int, warmup: int = 2) -> float:
    """Median milliseconds of forward + backward + AdamW step on the trainable (adapter) parameters."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    times = []
    for i in range(warmup + iters):
        if ids.is_cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ids.is_cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(1000 * (time.perf_counter() - t))
    return sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=5)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ids = torch.randint(0, 50257, (args.batch, args.seq), device=device)
    variants = {"lora_r1": AdapterSpec("lora", rank=1),
                "nola_nonshared": AdapterSpec("nola", rank=8, k=1000, l=1000, shared_basis=False),
                "nola_shared": AdapterSpec("nola", rank=8, k=1000, l=1000, shared_basis=True)}
    out = {"device": str(device), "layers": args.layers, "batch": args.batch, "seq": args.seq,
           "threads": torch.get_num_threads()}
    for name, spec in variants.items():
        model = _model(args.layers, device)
        inject_adapters(model, "gpt2", "qv", spec)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        out[f"{name}_ms"] = round(step_ms(model, ids, args.iters), 1)
        if device.type == "cuda":
            out[f"{name}_peak_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    out["nonshared_over_lora"] = round(out["nola_nonshared_ms"] / out["lora_r1_ms"], 3)
    out["shared_over_lora"] = round(out["nola_shared_ms"] / out["lora_r1_ms"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
