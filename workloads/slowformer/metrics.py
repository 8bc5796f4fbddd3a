"""SlowFormer's metric (dissertation Sec. 4.1.5.1)."""
from __future__ import annotations


def attack_success(flops_attack: float, flops_min: float, flops_max: float) -> float:
    """(F_attack − F_min)/(F_max − F_min) in %: the share of the compute removed by the efficient model
    (F_min = unattacked efficient model, F_max = dense model) that the attack restores; negative = fewer FLOPs."""
    if flops_max <= flops_min:
        raise ValueError(f"attack success is undefined when the dense model ({flops_max}) is not more expensive "
                         f"than the efficient one ({flops_min}); the efficient model drops no compute to restore.")
    return 100.0 * (flops_attack - flops_min) / (flops_max - flops_min)
