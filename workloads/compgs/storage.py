"""The Gaussian model file: CompGS compressed, bit-quantized or plain 3DGS (dissertation Sec. 3.1, Tables 3.1, 3.2, 3.6).

Layout: magic, a length-prefixed JSON header (count, groups, encodings, section byte sizes), then the sections in
the header's order. An attribute is either *raw* (one row per Gaussian) or a member of a *codebook group* (one
codebook, one index per Gaussian with ceil(log2 K) bits). Float arrays (raw attributes, codebooks) are fp32, or
absmax Int-b codes (per-column scale, b bits each: the paper's bit quantization baseline and BitQ). Gaussians are
sorted by one group's index so that column is stored run-length encoded (one (value, run) pair per used code).
Attributes: ``pos`` (3), ``opacity`` (1, logit), ``dc`` (3), ``sh`` (45 for degree 3), ``scale`` (3, log),
``rot`` (4, raw quaternion). A plain 3DGS file is every attribute raw at 32 bits.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from workloads.compgs.bitpack import index_bits, pack_bits, unpack_bits
from workloads.compgs.rle import rle_decode, rle_encode

MAGIC = b"CGS2"
NON_QUANTIZED = ("pos", "opacity")  # Table 3.6 "Non Quant" values


class CompressedFileError(ValueError):
    """A Gaussian file is missing, truncated or not written by ``save_compressed``."""


@dataclass
class CompressedGaussians:
    """Decoded content: raw attributes, codebooks with their members, per-Gaussian indices."""
    raw: dict[str, torch.Tensor]  # attribute -> (N, D)
    codebooks: dict[str, torch.Tensor] = field(default_factory=dict)  # group -> (K, D_group)
    indices: dict[str, torch.Tensor] = field(default_factory=dict)  # group -> (N,) int64
    groups: dict[str, list[str]] = field(default_factory=dict)  # group -> member attributes (concatenated)
    dims: dict[str, int] = field(default_factory=dict)  # attribute -> width
    sh_degree: int = 3

    def __len__(self) -> int:
        return int(next(iter(self.raw.values())).shape[0] if self.raw else next(iter(self.indices.values())).numel())

    def attribute(self, name: str) -> torch.Tensor:
        if name in self.raw:
            return self.raw[name]
        for group, members in self.groups.items():
            if name in members:
                start = sum(self.dims[m] for m in members[:members.index(name)])
                return self.codebooks[group][self.indices[group]][:, start:start + self.dims[name]]
        raise KeyError(f"attribute {name!r} is in neither the raw attributes nor a codebook group of this file")


def _encode_floats(x: np.ndarray, bits: int) -> tuple[bytes, dict]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if bits == 32:
        return x.astype("<f4").tobytes(), {"bits": 32}
    if not 2 <= bits <= 16:
        raise ValueError(f"float arrays are stored with 32 bits or absmax Int-b with 2..16 bits, got {bits}")
    qmax = 2 ** (bits - 1) - 1
    amax = np.abs(x).max(0) if x.shape[0] else np.zeros(x.shape[1], np.float32)
    scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    q = np.clip(np.round(x / scale), -qmax, qmax).astype(np.int64) + qmax
    return scale.astype("<f4").tobytes() + pack_bits(q.reshape(-1), bits), {"bits": bits}


def _decode_floats(data: bytes, bits: int, rows: int, cols: int) -> torch.Tensor:
    if bits == 32:
        return torch.from_numpy(np.frombuffer(data, "<f4").reshape(rows, cols).copy())
    qmax = 2 ** (bits - 1) - 1
    scale = np.frombuffer(data[:4 * cols], "<f4")
    q = unpack_bits(data[4 * cols:], bits, rows * cols).reshape(rows, cols) - qmax
    return torch.from_numpy((q.astype(np.float32) * scale).astype(np.float32))


def save_compressed(path: Path, cg: CompressedGaussians, *, sort_by: str | None = None, position_bits: int = 32,
                    opacity_bits: int = 32, attribute_bits: int = 32) -> dict[str, int]:
    """Write ``cg``; returns the byte size of each section (their sum + ``header`` = file size).

    ``position_bits``/``opacity_bits`` apply to raw ``pos``/``opacity``; ``attribute_bits`` to the other raw
    attributes and to the codebooks (32 = fp32, fewer = absmax Int-b).
    """
    if cg.codebooks and sort_by not in cg.indices:
        raise ValueError(f"sort_by={sort_by!r} is not a codebook group; choose one of {sorted(cg.indices)}")
    n = len(cg)
    order = torch.argsort(cg.indices[sort_by], stable=True) if cg.codebooks else torch.arange(n)
    sections: dict[str, bytes] = {}
    meta: dict = {"n": n, "sh_degree": cg.sh_degree, "sort_by": sort_by if cg.codebooks else None,
                  "groups": cg.groups, "dims": cg.dims, "raw": {}, "codebooks": {}}
    for name, cb in cg.codebooks.items():
        k = int(cb.shape[0])
        data, enc = _encode_floats(cb.detach().cpu().numpy(), attribute_bits)
        meta["codebooks"][name] = {"k": k, "d": int(cb.shape[1]), **enc}
        sections[f"codebook/{name}"] = data
        idx = cg.indices[name][order].cpu().numpy()
        if name == sort_by:
            vals, runs = rle_encode(torch.from_numpy(idx))
            run_bits = max(1, int(runs.max()).bit_length()) if runs.numel() else 1
            meta["rle"] = {"runs": int(vals.numel()), "run_bits": run_bits}
            sections[f"rle_values/{name}"] = pack_bits(vals.numpy(), index_bits(k))
            sections[f"rle_lengths/{name}"] = pack_bits(runs.numpy(), run_bits)
        else:
            sections[f"indices/{name}"] = pack_bits(idx, index_bits(k))
    for name, x in cg.raw.items():
        bits = position_bits if name == "pos" else opacity_bits if name == "opacity" else attribute_bits
        arr = x.detach().cpu().reshape(n, -1)[order].numpy()
        data, enc = _encode_floats(arr, bits)
        meta["raw"][name] = {"d": int(arr.shape[1]), **enc}
        sections[f"raw/{name}"] = data
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
        raise CompressedFileError(f"Gaussian file {path} does not exist; write it with save_compressed or re-run the trial")
    raw_bytes = path.read_bytes()
    if raw_bytes[:4] != MAGIC or len(raw_bytes) < 8:
        raise CompressedFileError(f"{path} is not a CompGS file (bad magic); it was not written by save_compressed")
    (hlen,) = struct.unpack("<I", raw_bytes[4:8])
    try:
        meta = json.loads(raw_bytes[8:8 + hlen])
    except ValueError as exc:
        raise CompressedFileError(f"{path}: corrupt header ({exc}); re-create the file") from None
    pos, chunks = 8 + hlen, {}
    for name, size in meta["sections"]:
        chunks[name] = raw_bytes[pos:pos + size]
        pos += size
    if pos != len(raw_bytes):
        raise CompressedFileError(f"{path}: expected {pos} bytes, found {len(raw_bytes)} (truncated or padded); re-create it")
    n = meta["n"]
    codebooks, indices = {}, {}
    for name, m in meta["codebooks"].items():
        k = m["k"]
        codebooks[name] = _decode_floats(chunks[f"codebook/{name}"], m["bits"], k, m["d"])
        if name == meta["sort_by"]:
            r = meta["rle"]
            vals = unpack_bits(chunks[f"rle_values/{name}"], index_bits(k), r["runs"])
            runs = unpack_bits(chunks[f"rle_lengths/{name}"], r["run_bits"], r["runs"])
            indices[name] = rle_decode(torch.from_numpy(vals), torch.from_numpy(runs))
        else:
            indices[name] = torch.from_numpy(unpack_bits(chunks[f"indices/{name}"], index_bits(k), n))
    raw = {name: _decode_floats(chunks[f"raw/{name}"], m["bits"], n, m["d"]) for name, m in meta["raw"].items()}
    return CompressedGaussians(raw, codebooks, indices, {k: list(v) for k, v in meta["groups"].items()},
                               dict(meta["dims"]), meta["sh_degree"])


def memory_breakdown(sizes: dict[str, int]) -> dict[str, float]:
    """Table 3.6 shares (%): non-quantized (position, opacity) vs quantized values, and inside the quantized part
    indices (incl. the RLE column) vs codebooks. Raw non-position attributes count as quantized-part-free."""
    nonq = sum(v for k, v in sizes.items() if k in ("raw/pos", "raw/opacity"))
    cb = sum(v for k, v in sizes.items() if k.startswith("codebook/"))
    idx = sum(v for k, v in sizes.items() if k.startswith(("indices/", "rle_")))
    total = sum(v for k, v in sizes.items() if k != "header")
    q = cb + idx
    pct = lambda a, b: 100.0 * a / b if b else 0.0  # noqa: E731
    return {"nonquant_share": pct(nonq, total), "quant_share": pct(q, total),
            "index_share": pct(idx, q), "codebook_share": pct(cb, q)}
