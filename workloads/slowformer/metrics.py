"""SlowFormer's metric (dissertation Sec. 4.1.5.1)."""
from __future__ import annotations


def attack_success(flops_attack: float, flops_min: float, flops_max: float) -> float:
    """(F_attack − F_min)/(F_max − F_min) in %: the share of the compute removed by the efficient model
    (F_min = unattacked efficient model, F_max = dense model) that the attack restores; negative = fewer FLOPs."""
    if flops_max <= flops_min:
        raise ValueError(f"attack success is undefined when the dense model ({flops_max}) is not more expensive "
                         f"than the efficient one ({flops_min}); the efficient model drops no compute to restore.")
    return 100.0 * (flops_attack - flops_min) / (flops_max - flops_min)


def tap_target_classes(num_classes: int, n: int, seed: int) -> list[int]:
    """The TAP baseline's target labels: ``n`` distinct classes drawn from ``seed`` ("ten randomly generated target
    category labels", Sec. 4.1.5.1), all classes where the data set has fewer."""
    import torch

    if n <= 0:
        raise ValueError(f"tap_targets={n}: give at least one target class (the paper averages 10)")
    order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
    return [int(c) for c in order[:min(n, num_classes)]]


def mean_over_targets(per_target: list[dict[str, float]]) -> dict[str, float]:
    """The TAP row: every metric averaged over the target classes' runs ("report the averaged metrics").
    Attack Success is linear in the attacked GFLOPs, so its mean equals that of the mean GFLOPs."""
    if not per_target:
        raise ValueError("no TAP target runs to average")
    keys = set(per_target[0])
    if any(set(m) != keys for m in per_target):
        raise ValueError(f"TAP target runs report different metrics: {[sorted(m) for m in per_target]}")
    return {k: sum(m[k] for m in per_target) / len(per_target) for k in per_target[0]}
