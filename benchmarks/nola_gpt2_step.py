"""GPT-2 training-step time, Table 3.11's setting: LoRA r=1 vs NOLA QV (rank 8, k = l = 1000) with a per-layer or a
shared random basis, batch 8, seq 512. Paper (GPT-2 L, one GPU): 776 / 834 / 779 ms per batch, i.e. non-shared / LoRA
= 1.075 and shared / LoRA = 1.004.

All variants are built in one process and timed in interleaved rounds (variant order rotates each round), so
clock and thermal drift hit them alike. NOLA runs with its batched ΔW (issue 18.2: one computation per matrix shape)
and, for comparison, with one ΔW per matrix (``batched: false``, the earlier code path). One step of each variant is
also run under torch.profiler to count kernel launches and host syncs. Random weights (timing does not depend on
them). Prints one JSON line.

    python benchmarks/nola_gpt2_step.py --preset gpt2-large --seq 512 --batch 8        # the paper's setting (GPU)
    OMP_NUM_THREADS=1 python benchmarks/nola_gpt2_step.py --layers 2 --width 256 --seq 64 --iters 3   # CPU check
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from gpu_counts import gpu_counts, prefixed
from workloads.nola.inject import AdapterSpec, inject_adapters

PRESETS = {"gpt2-medium": (24, 1024, 16), "gpt2-large": (36, 1280, 20)}


def build(layers: int, width: int, heads: int, spec: AdapterSpec | None, device: torch.device):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=layers, n_embd=width, n_head=heads, vocab_size=50257, n_positions=1024,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    with torch.device(device):  # random init on the device: seconds instead of a minute for GPT-2 L on the CPU
        model = GPT2LMHeadModel(cfg)
    if spec is not None:
        inject_adapters(model, "gpt2", "qv", spec)
    return model.to(device)


def make_step(model, ids: torch.Tensor):
    """forward + backward + AdamW (foreach) on the trainable (adapter) parameters."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, foreach=True)

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def interleaved_ms(steps: dict, device: torch.device, iters: int, warmup: int, rounds: int) -> dict[str, list[float]]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    names = list(steps)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            sync()
            t = time.perf_counter()
            for _ in range(iters):
                steps[name]()
            sync()
            times[name].append(1000 * (time.perf_counter() - t) / iters)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=sorted(PRESETS), default=None)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=5, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    layers, width, heads = PRESETS[args.preset] if args.preset else (args.layers, args.width, args.heads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ids = torch.randint(0, 50257, (args.batch, args.seq), device=device)
    nola = dict(rank=8, k=1000, l=1000)
    specs = {"lora_r1": AdapterSpec("lora", rank=1),
             "nola_shared": AdapterSpec("nola", shared_basis=True, **nola),
             "nola_nonshared": AdapterSpec("nola", shared_basis=False, **nola),
             "nola_shared_unbatched": AdapterSpec("nola", shared_basis=True, batched=False, **nola),
             "nola_nonshared_unbatched": AdapterSpec("nola", shared_basis=False, batched=False, **nola)}
    out = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "layers": layers, "width": width, "batch": args.batch, "seq": args.seq,
           "threads": torch.get_num_threads(), "torch": torch.__version__}
    steps = {}
    for name, spec in specs.items():
        steps[name] = make_step(build(layers, width, heads, spec, device), ids)
    for name, step in steps.items():
        step()  # first step forms the stacked bases / caches outside the profile
        out.update(prefixed(name, gpu_counts(step, device)))  # one step (gpu_counts.py)
    if device.type == "cuda":
        out["peak_mib_all_models"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    times = interleaved_ms(steps, device, args.iters, args.warmup, args.rounds)
    for name, ts in times.items():
        out[f"{name}_ms"] = round(sorted(ts)[len(ts) // 2], 2)
    lora = out["lora_r1_ms"]
    for name in specs:
        if name != "lora_r1":
            out[f"{name}_over_lora"] = round(out[f"{name}_ms"] / lora, 4)
    # the same ratio per round (each round times all variants back to back): its spread shows the noise
    for name in ("nola_shared", "nola_nonshared"):
        per_round = sorted(a / b for a, b in zip(times[name], times["lora_r1"]))
        out[f"{name}_over_lora_round_min_max"] = [round(per_round[0], 4), round(per_round[-1], 4)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
