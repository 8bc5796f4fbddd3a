"""Trainable-parameter formulas of the dissertation's tables (Tables 3.1, 3.10, 3.12)."""
from __future__ import annotations


def lora_params(num_layers: int, matrices_per_layer: int, in_features: int, out_features: int, rank: int) -> int:
    """LoRA: r (in + out) per adapted matrix."""
    return num_layers * matrices_per_layer * rank * (in_features + out_features)


def nola_params(num_layers: int, matrices_per_layer: int, k: int, l: int) -> int:
    """NOLA: k + l per adapted matrix, whatever its size or rank (GPT-2 M QV, k=l=1000: 0.096M)."""
    return num_layers * matrices_per_layer * (k + l)


def checkpoint_bytes(num_coefficients: int, bits: int = 32, num_seeds: int = 1) -> int:
    """Bytes of a NOLA/PRANC checkpoint: the coefficients at ``bits`` each plus 8-byte seeds."""
    return (num_coefficients * bits + 7) // 8 + 8 * num_seeds
