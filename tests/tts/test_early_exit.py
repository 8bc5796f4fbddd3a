"""Adaptive inference: exit selection, thresholds 0 and > 1, and truly skipped columns."""
import math

import pytest
import torch

from workloads.tts.early_exit import (NEVER, adaptive_forward, fixed_exit_thresholds, max_softmax, select_exit,
                                      uniform_thresholds)
from workloads.tts.measure import exit_logits, policy_outcome
from workloads.tts.policy import parse_policy


def test_max_softmax_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    assert torch.allclose(max_softmax(logits), torch.tensor([0.75, 0.5]))


def test_select_exit_picks_first_confident_exit_and_falls_back_to_last():
    conf = torch.tensor([[0.2, 0.6, 0.9, 0.1],
                         [0.95, 0.1, 0.1, 0.1],
                         [0.1, 0.1, 0.1, 0.1],
                         [0.5, 0.5, 0.5, 0.5]])
    exits = select_exit(conf, torch.tensor([0.9, 0.5, 0.5, 0.99]))
    assert exits.tolist() == [1, 0, 3, 1]  # row 4: 0.5 >= 0.5 fires at exit 1 (ties count as confident)


def _count_column_calls(model):
    calls = [0] * model.num_exits
    handles = [model.column(i).register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
               for i in range(model.num_exits)]
    return calls, handles


def test_threshold_zero_always_exit_zero_and_above_one_always_last(micro_model):
    x = torch.rand(5, 3, 32, 32)
    calls, handles = _count_column_calls(micro_model)
    low = adaptive_forward(micro_model, x, uniform_thresholds(0.0, 4))
    assert low.exits.tolist() == [0] * 5
    assert calls == [1, 0, 0, 0]  # later columns never ran
    high = adaptive_forward(micro_model, x, uniform_thresholds(1.01, 4))
    assert high.exits.tolist() == [3] * 5
    assert calls == [2, 1, 1, 1]
    for h in handles:
        h.remove()
    assert torch.allclose(low.logits, micro_model.forward_exits(x)[0], atol=1e-5)
    assert torch.allclose(high.logits, micro_model(x), atol=1e-5)


def test_fixed_exit_runs_exactly_the_columns_up_to_it(micro_model):
    calls, handles = _count_column_calls(micro_model)
    trace = adaptive_forward(micro_model, torch.rand(1, 3, 32, 32), fixed_exit_thresholds(2, 4))
    assert trace.exits.item() == 2 and calls == [1, 1, 1, 0]
    assert len(trace.head_logits) == 3  # heads 0..2 evaluated (their cost is part of the exit's latency)
    for h in handles:
        h.remove()


def test_decided_samples_are_masked_not_dropped_and_columns_stop_when_all_decided(micro_model):
    x = torch.rand(6, 3, 32, 32)
    ref = micro_model.forward_exits(x)
    conf0 = max_softmax(ref[0])
    t = conf0.median().item()  # about half the batch leaves at exit 0
    seen = []
    h = micro_model.column(1).register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    trace = adaptive_forward(micro_model, x, torch.tensor([t, NEVER, NEVER, 0.0]))
    assert seen == [6]  # no data-dependent shapes: the whole batch goes on while any sample is undecided
    assert trace.exits.tolist() == [0 if c >= t else 3 for c in conf0.tolist()]
    for b, e in enumerate(trace.exits.tolist()):
        assert torch.allclose(trace.logits[b], ref[e][b], atol=1e-5)
    adaptive_forward(micro_model, x, torch.tensor([0.0, NEVER, NEVER, 0.0]))  # everyone leaves at exit 0
    h.remove()
    assert seen == [6]  # column 1 never ran again


def test_adaptive_run_agrees_with_policy_simulated_from_all_exit_logits(micro_model):
    from torch.utils.data import TensorDataset

    torch.manual_seed(3)
    x = torch.rand(12, 3, 32, 32)
    y = torch.randint(0, 10, (12,))
    logits, labels = exit_logits(micro_model, TensorDataset(x, y), device=torch.device("cpu"))
    conf = torch.stack([max_softmax(lg) for lg in logits], 1)
    c = conf[:, 0].sort().values  # a threshold halfway between two scores: no tie that rounding could flip
    thr = torch.full((4,), ((c[5] + c[6]) / 2).item())
    sim = policy_outcome(logits, labels, thr)
    real = [adaptive_forward(micro_model, x[i:i + 1], thr) for i in range(12)]
    assert [r.exits.item() for r in real] == sim["exits"].tolist()
    assert [r.logits.argmax(1).item() for r in real] == sim["preds"].tolist()
    assert sum(sim["exit_fractions"]) == pytest.approx(1.0)


def test_policies_parse_and_bad_ones_explain_the_fix():
    assert parse_policy("baseline", 4) is None
    assert parse_policy("fixed:1", 4).tolist() == [NEVER, 0.0, NEVER, NEVER]
    assert parse_policy("threshold:0.7", 4).tolist() == pytest.approx([0.7] * 4)
    assert parse_policy("thresholds:0.5,0.6,0.7,0", 4).tolist() == pytest.approx([0.5, 0.6, 0.7, 0.0])
    for bad in ("fixed:4", "threshold:x", "thresholds:0.5,0.6", "fastest"):
        with pytest.raises(ValueError, match="policy|fixed exit"):
            parse_policy(bad, 4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.bfloat16])
def test_copied_confidence_is_the_largest_score_exactly(dtype):
    from workloads.tts.early_exit import copied_confidence, host_confidences

    scores = torch.rand(1, 37, generator=torch.Generator().manual_seed(3)).to(dtype)
    assert copied_confidence(scores) == host_confidences(scores).item() == scores.float().max().item()


def test_rounded_thresholds_are_made_once_per_values_and_dtype():
    import numpy as np

    from workloads.tts.early_exit import HostStaging, thresholds_as

    staging, thr = HostStaging(), np.array([0.1, 0.7, NEVER, 0.0])
    first = staging.thresholds(thr, torch.float32)
    assert first == thresholds_as(thr, torch.float32).tolist() and staging.thresholds(thr, torch.float32) is first
    assert staging.thresholds(thr, torch.float64) == thr.tolist()  # another dtype: rounded apart
    assert staging.thresholds(thr + 0.1, torch.float32) != first  # other values: not the cached list
