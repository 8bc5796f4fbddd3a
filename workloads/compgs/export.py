"""From a trained model to the stored file's content, and from a loaded file back to renderable attributes."""
from __future__ import annotations

import torch

from workloads.compgs.model import attr_dims
from workloads.compgs.storage import CompressedGaussians

RAW_ORDER = ("pos", "opacity", "dc", "sh", "scale", "rot")


def pick_sort_group(groups: dict[str, list[str]], requested: str) -> str | None:
    """The group stored run-length encoded: the paper sorts by rotation; else the first group."""
    if not groups:
        return None
    if requested != "auto":
        if requested not in groups:
            raise ValueError(f"sort_by={requested!r} is not a codebook group; choose one of {sorted(groups)} or auto")
        return requested
    return next((g for g in groups if "rot" in g.split("+")), next(iter(groups)))


def to_file_content(params: dict[str, torch.Tensor], sh_degree: int, groups: dict[str, list[str]],
                    codebooks: dict[str, torch.Tensor], indices: dict[str, torch.Tensor]) -> CompressedGaussians:
    """Raw = every attribute in no group (SH dropped entirely when sh_degree is 0: 3DGS-No-SH stores 14 values)."""
    dims = attr_dims(sh_degree)
    quantized = {m for members in groups.values() for m in members}
    raw = {k: params[k].detach().cpu().reshape(params[k].shape[0], -1).contiguous()
           for k in RAW_ORDER if k not in quantized and dims[k] > 0}
    return CompressedGaussians(raw, {g: c.detach().cpu() for g, c in codebooks.items()},
                               {g: i.detach().cpu() for g, i in indices.items()}, groups, dims, sh_degree)


def renderable(cg: CompressedGaussians) -> dict[str, torch.Tensor]:
    """pos, dc, sh, scale, rot, opacity (N, D) decoded from a loaded file (codebook lookups done once here)."""
    out = {}
    for k in RAW_ORDER:
        if cg.dims.get(k, 0) == 0:
            out[k] = torch.zeros(len(cg), 0)
        else:
            out[k] = cg.attribute(k)
    return out


def plain_3dgs_bytes(n: int) -> int:
    """Size of the same Gaussians as an uncompressed 3DGS model: 59 fp32 values each (the paper's reference)."""
    return n * 59 * 4
