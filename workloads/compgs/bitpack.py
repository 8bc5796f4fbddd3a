"""Packing codebook indices into ceil(log2 K) bits each (CompGS storage, dissertation Sec. 3.1)."""
from __future__ import annotations

import math

import numpy as np


def index_bits(codebook_size: int) -> int:
    """ceil(log2 K) bits per index; a 1-entry codebook still needs no bits."""
    if codebook_size < 1:
        raise ValueError(f"codebook size must be >= 1, got {codebook_size}")
    return math.ceil(math.log2(codebook_size)) if codebook_size > 1 else 0


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Little-endian bit packing of non-negative ints < 2**bits; ceil(n * bits / 8) bytes."""
    values = np.asarray(values, dtype=np.uint64)
    if bits == 0 or values.size == 0:
        return b""
    if values.max() >= (1 << bits):
        raise ValueError(f"value {int(values.max())} does not fit in {bits} bits")
    bit_matrix = ((values[:, None] >> np.arange(bits, dtype=np.uint64)[None, :]) & 1).astype(np.uint8)
    return np.packbits(bit_matrix.reshape(-1), bitorder="little").tobytes()


def unpack_bits(data: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of ``pack_bits``."""
    if bits == 0:
        return np.zeros(count, dtype=np.int64)
    flat = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[: count * bits]
    weights = (1 << np.arange(bits, dtype=np.int64))
    return (flat.reshape(count, bits).astype(np.int64) * weights).sum(1)
