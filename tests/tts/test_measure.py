"""Cost accounting and curve comparison."""
import math

import pytest
import torch

from workloads.tts.curves import accuracy_at_cost, matched_cost_gain
from workloads.tts.measure import exit_gflops, latency_stats, mean_gflops, policy_outcome


def test_exit_costs_grow_and_include_earlier_heads(micro_model):
    per_exit, baseline = exit_gflops(micro_model, (3, 32, 32))
    assert all(a < b for a, b in zip(per_exit, per_exit[1:]))
    # the last exit pays for the three early heads on top of the plain model; a head's counted work is
    # its Linear layer: channels x classes multiply-adds
    head = micro_model.spec.channels[-1] * micro_model.num_classes / 1e9
    assert per_exit[-1] - baseline == pytest.approx(3 * head, rel=1e-6)
    assert mean_gflops(torch.tensor([0, 0, 3]), per_exit) == pytest.approx((2 * per_exit[0] + per_exit[3]) / 3)


def test_policy_outcome_counts_by_hand():
    # exit 0 confident for sample 0 only; labels make sample 0 right at exit 0 and sample 1 wrong at exit 1
    l0 = torch.tensor([[5.0, 0.0], [0.0, 0.1]])
    l1 = torch.tensor([[0.0, 5.0], [0.0, 5.0]])
    out = policy_outcome([l0, l1], torch.tensor([0, 0]), torch.tensor([0.9, 0.9]))
    assert out["exits"].tolist() == [0, 1]
    assert out["preds"].tolist() == [0, 1]
    assert out["accuracy"] == 50.0
    assert out["exit_fractions"] == [0.5, 0.5]


def test_latency_stats_by_hand():
    s = latency_stats([1.0, 2.0, 3.0, 4.0, 10.0])
    assert s["latency_ms"] == 4.0 and s["latency_median_ms"] == 3.0
    assert s["latency_std_ms"] == pytest.approx(math.sqrt((9 + 4 + 1 + 0 + 36) / 5))
    assert s["latency_p10_ms"] == 1.0 and s["latency_p90_ms"] == 10.0


def test_accuracy_at_cost_interpolates_and_respects_budget():
    costs, accs = [10.0, 20.0, 40.0], [60.0, 70.0, 65.0]
    assert accuracy_at_cost(costs, accs, 15.0) == 65.0
    assert accuracy_at_cost(costs, accs, 30.0) == 70.0  # monotone: 65 % at 40 never beats 70 % at 20
    assert accuracy_at_cost(costs, accs, 100.0) == 70.0
    assert math.isnan(accuracy_at_cost(costs, accs, 5.0))


def test_matched_cost_gain_by_hand():
    before = ([20.0, 30.0], [60.0, 80.0])
    after = ([10.0, 20.0], [70.0, 90.0])  # cheaper and better
    # at cost 20: after reaches 90 (+30); at cost 30: after's best is 90 (+10)
    assert matched_cost_gain(*before, *after) == pytest.approx(20.0)
    assert math.isnan(matched_cost_gain([5.0], [50.0], [10.0], [60.0]))
