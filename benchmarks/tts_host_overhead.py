"""TTS eager exit pass: its host time per pass over the plain RevCol, on a CPU where Python dominates.

Times, in thread CPU time (less disturbed by other processes than wall time), the plain model, the last-exit
pass (``early_exit.run_exits``, thresholds that never fire) and the same columns and heads without any decision
(``heads_only``); each is run in turn within every round and the per-round differences' medians are printed:
``last_exit - heads_only`` is the exit loop's own host cost (decisions, copies, the trace), ``heads_only - plain``
the early heads' operators. A small image keeps the kernels cheap.

    OMP_NUM_THREADS=1 python benchmarks/tts_host_overhead.py [--arch revcol_micro] [--px 32] [--batch 1]
        [--classes 10] [--rounds 150]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from workloads.tts.early_exit import NEVER, HostStaging, column_exit_step, effective_thresholds, run_exits
from workloads.tts.revcol import build_revcol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="revcol_micro")
    ap.add_argument("--px", type=int, default=32)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=150)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_revcol(args.arch, args.classes).eval()
    x = torch.rand(args.batch, 3, args.px, args.px)
    thr, staging = effective_thresholds([NEVER] * model.num_exits, model.num_exits), HostStaging()

    def heads_only():
        inputs, feats = x, None
        for i in range(model.num_exits):
            inputs, feats = column_exit_step(model, i, inputs, feats)[:2]

    fns = {"plain": lambda: model(x), "last_exit": lambda: run_exits(model, x, thr, staging=staging),
           "heads_only": heads_only}
    us: dict[str, list[float]] = {k: [] for k in fns}
    with torch.no_grad():
        for fn in fns.values():
            for _ in range(10):
                fn()
        for _ in range(args.rounds):
            for name, fn in fns.items():
                t0 = time.thread_time()
                for _ in range(5):
                    fn()
                us[name].append((time.thread_time() - t0) / 5 * 1e6)

    def diff(a: str, b: str) -> float:
        return statistics.median([p - q for p, q in zip(us[a], us[b])])

    print(json.dumps({**vars(args), "plain_us": statistics.median(us["plain"]),
                      "last_exit_minus_plain_us": diff("last_exit", "plain"),
                      "last_exit_minus_heads_only_us": diff("last_exit", "heads_only"),
                      "heads_only_minus_plain_us": diff("heads_only", "plain"),
                      "last_exit_over_plain": statistics.median(us["last_exit"]) / statistics.median(us["plain"])}))


if __name__ == "__main__":
    main()
