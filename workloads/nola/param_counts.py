"""Trainable-parameter formulas and checkpoint sizes of the dissertation's tables (Tables 3.10-3.17)."""
from __future__ import annotations

from workloads.nola.quantize import quantized_storage_bits


def lora_params(num_layers: int, matrices_per_layer: int, in_features: int, out_features: int, rank: int) -> int:
    """LoRA: r (in + out) per adapted matrix."""
    return num_layers * matrices_per_layer * rank * (in_features + out_features)


def nola_params(num_layers: int, matrices_per_layer: int, k: int, l: int) -> int:
    """NOLA: k + l per adapted matrix, whatever its size or rank (GPT-2 M QV, k=l=1000: 0.096M)."""
    return num_layers * matrices_per_layer * (k + l)


def in_paper_thousands(count: int) -> float:
    """A count as the ViT tables print it: "K" and "M" there are units of 2**10 and 2**20, so LoRA r=4 on ViT-B's
    Q and V, 147,456 numbers, is printed 141K (Table 3.15) and 0.141M (Table 3.16): count / 2**20 · 1000."""
    return count / 2**20 * 1000


def checkpoint_bytes(num_coefficients: int, bits: int = 32, num_seeds: int = 1, num_vectors: int = 1) -> int:
    """Bytes of a NOLA/PRANC/LoRA checkpoint: the trained numbers at ``bits`` each (32: float32, 16: fp16 as in
    Table 3.13), for 1-8 bits also each quantized vector's float32 min and step (``num_vectors`` of them: α and β of
    every adapted matrix, A and B of every LoRA pair), plus an 8-byte seed per basis stream (``num_seeds``)."""
    per_vector_overhead = quantized_storage_bits(0, bits) * num_vectors
    return (num_coefficients * bits + per_vector_overhead + 7) // 8 + 8 * num_seeds
