"""The CompGS compressed file (dissertation Sec. 3.1 and Table 3.6 memory breakdown).

Layout: magic, a length-prefixed JSON header (counts, codebook sizes, dtypes, section byte sizes), then
sections in the header's order: codebooks (fp32), bit-packed indices per quantized attribute
(ceil(log2 K) bits), the run-length-encoded sort index (values and run lengths, bit-packed), positions
(fp32 or fp16) and opacity (fp32, or 8-bit min-max quantized: BitQ). Gaussians are sorted by the sort
attribute's index so that column compresses to one (value, run) pair per code.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workloads.compgs.bitpack import index_bits, pack_bits, unpack_bits
from workloads.compgs.rle import rle_decode, rle_encode

MAGIC = b"CGS1"


class CompressedFileError(ValueError):
    """A CompGS file is missing, truncated or not a CompGS file."""


@dataclass
class CompressedGaussians:
    """Decoded content: per-attribute codebooks and indices plus raw positions and opacity logits."""
    positions: torch.Tensor  # (N, 3)
    opacity_logits: torch.Tensor  # (N,)
    codebooks: dict[str, torch.Tensor]  # name -> (K, D)
    indices: dict[str, torch.Tensor]  # name -> (N,) int64
    sh_degree: int

    def attribute(self, name: str) -> torch.Tensor:
        return self.codebooks[name][self.indices[name]]


def _quantize_opacity_8bit(x: np.ndarray) -> tuple[bytes, float, float]:
    lo, hi = float(x.min()), float(x.max())
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    q = np.clip(np.round((x - lo) / scale), 0, 255).astype(np.uint8)
    return q.tobytes(), lo, scale


def save_compressed(path: Path, cg: CompressedGaussians, *, sort_by: str, position_dtype: str = "fp16",
                    opacity_bits: int = 8) -> dict[str, int]:
    """Write ``cg`` to ``path``; returns the byte size of each section (their sum + header = file size)."""
    if sort_by not in cg.indices:
        raise ValueError(f"sort_by={sort_by!r} is not a quantized attribute; choose one of {sorted(cg.indices)}")
    if position_dtype not in ("fp32", "fp16") or opacity_bits not in (32, 8):
        raise ValueError("position_dtype must be fp32|fp16 and opacity_bits 32|8 (the paper's storage variants)")
    order = torch.argsort(cg.indices[sort_by], stable=True)
    sections: dict[str, bytes] = {}
    meta: dict = {"n": int(cg.positions.shape[0]), "sh_degree": cg.sh_degree, "sort_by": sort_by,
                  "position_dtype": position_dtype, "opacity_bits": opacity_bits, "codebooks": {}}
    for name, cb in cg.codebooks.items():
        k = int(cb.shape[0])
        meta["codebooks"][name] = [k, int(cb.shape[1])]
        sections[f"codebook/{name}"] = cb.detach().cpu().numpy().astype("<f4").tobytes()
        idx = cg.indices[name][order].cpu().numpy()
        if name == sort_by:
            vals, runs = rle_encode(torch.from_numpy(idx))
            run_bits = max(1, int(runs.max()).bit_length())
            meta["rle"] = {"runs": int(vals.numel()), "run_bits": run_bits}
            sections[f"rle_values/{name}"] = pack_bits(vals.numpy(), index_bits(k))
            sections[f"rle_lengths/{name}"] = pack_bits(runs.numpy(), run_bits)
        else:
            sections[f"indices/{name}"] = pack_bits(idx, index_bits(k))
    pos = cg.positions[order].detach().cpu().numpy()
    sections["positions"] = pos.astype("<f2" if position_dtype == "fp16" else "<f4").tobytes()
    op = cg.opacity_logits[order].detach().cpu().numpy().astype(np.float32)
    if opacity_bits == 8:
        data, lo, scale = _quantize_opacity_8bit(op)
        meta["opacity_range"] = [lo, scale]
        sections["opacity"] = data
    else:
        sections["opacity"] = op.astype("<f4").tobytes()
    meta["sections"] = [[k, len(v)] for k, v in sections.items()]
    header = json.dumps(meta).encode()
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(header)) + header)
        for v in sections.values():
            f.write(v)
    sizes = {k: len(v) for k, v in sections.items()}
    sizes["header"] = len(MAGIC) + 4 + len(header)
    return sizes


def load_compressed(path: Path) -> CompressedGaussians:
    """Read a file written by ``save_compressed`` (Gaussians come back in the file's sorted order)."""
    path = Path(path)
    if not path.is_file():
        raise CompressedFileError(f"CompGS file {path} does not exist; write it with save_compressed or re-run the trial")
    raw = path.read_bytes()
    if raw[:4] != MAGIC or len(raw) < 8:
        raise CompressedFileError(f"{path} is not a CompGS file (bad magic); it was not written by save_compressed")
    (hlen,) = struct.unpack("<I", raw[4:8])
    try:
        meta = json.loads(raw[8:8 + hlen])
    except ValueError as exc:
        raise CompressedFileError(f"{path}: corrupt header ({exc}); re-create the file") from None
    pos, chunks = 8 + hlen, {}
    for name, size in meta["sections"]:
        chunks[name] = raw[pos:pos + size]
        pos += size
    if pos != len(raw):
        raise CompressedFileError(f"{path}: expected {pos} bytes, found {len(raw)} (truncated or padded); re-create it")
    n = meta["n"]
    codebooks, indices = {}, {}
    for name, (k, d) in meta["codebooks"].items():
        codebooks[name] = torch.from_numpy(np.frombuffer(chunks[f"codebook/{name}"], "<f4").reshape(k, d).copy())
        if name == meta["sort_by"]:
            r = meta["rle"]
            vals = unpack_bits(chunks[f"rle_values/{name}"], index_bits(k), r["runs"])
            runs = unpack_bits(chunks[f"rle_lengths/{name}"], r["run_bits"], r["runs"])
            indices[name] = rle_decode(torch.from_numpy(vals), torch.from_numpy(runs))
        else:
            indices[name] = torch.from_numpy(unpack_bits(chunks[f"indices/{name}"], index_bits(k), n))
    dt = "<f2" if meta["position_dtype"] == "fp16" else "<f4"
    positions = torch.from_numpy(np.frombuffer(chunks["positions"], dt).reshape(n, 3).astype(np.float32))
    if meta["opacity_bits"] == 8:
        lo, scale = meta["opacity_range"]
        q = np.frombuffer(chunks["opacity"], np.uint8).astype(np.float32)
        opacity = torch.from_numpy(q * np.float32(scale) + np.float32(lo))
    else:
        opacity = torch.from_numpy(np.frombuffer(chunks["opacity"], "<f4").copy())
    return CompressedGaussians(positions, opacity, codebooks, indices, meta["sh_degree"])
