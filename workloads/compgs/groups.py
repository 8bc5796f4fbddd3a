"""Codebook groups of CompGS: which attributes share a K-means codebook (dissertation Sec. 3.1, Table 3.9).

``"sh,dc,scale,rot"`` is the paper's default (4 codebooks); ``"sh+dc"`` concatenates SH and DC into one
codebook; ``"pos"`` quantizes positions (Table 3.9 shows why the paper does not). Opacity is never quantized.
"""
from __future__ import annotations

import torch

from orchestrator.registry import ConfigError
from workloads.compgs.quantizer import AttributeCodebook, VQSchedule

QUANTIZABLE = ("pos", "dc", "sh", "scale", "rot")


def parse_groups(spec: str, sh_degree: int) -> dict[str, list[str]]:
    """'sh+dc,scale' -> {'sh+dc': ['sh', 'dc'], 'scale': ['scale']}; each attribute at most once."""
    groups, seen = {}, set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        members = [m.strip() for m in part.split("+")]
        bad = [m for m in members if m not in QUANTIZABLE]
        if bad:
            raise ConfigError(f"compgs: quantize={spec!r} names {bad}; quantizable attributes are {', '.join(QUANTIZABLE)} "
                              "(comma-separated groups, '+' joins attributes into one codebook, e.g. 'sh+dc,scale,rot')")
        if seen & set(members):
            raise ConfigError(f"compgs: quantize={spec!r} lists {sorted(seen & set(members))} twice; each attribute "
                              "belongs to at most one codebook")
        if "sh" in members and sh_degree == 0:
            raise ConfigError(f"compgs: quantize={spec!r} includes sh but sh_degree=0 has no SH coefficients; "
                              "drop sh from quantize or use sh_degree 3")
        seen |= set(members)
        groups["+".join(members)] = members
    return groups


def codebook_size(members: list[str], color: int, cov: int, pos: int, scale: float, sh: int = 0) -> int:
    """Paper size of a group's codebook times ``scale`` (at least 2 codes, so an index carries information).

    ``sh`` > 0 sizes any group holding the SH coefficients on its own, as compact3d's ``--kmeans_ncls_sh``
    does for ``sh`` and ``sh_dc`` (train_kmeans.py l.81, l.89; run.sh: 512); 0 = the colour size."""
    base = (pos if "pos" in members else cov if set(members) <= {"scale", "rot"}
            else sh if "sh" in members and sh > 0 else color)
    if base < 1:
        raise ConfigError(f"compgs: codebook size for {'+'.join(members)} must be >= 1, got {base}")
    if scale <= 0:
        raise ConfigError(f"compgs: codebook_scale must be > 0, got {scale}")
    return max(2, round(base * scale))


class GroupQuantizer:
    """One ``AttributeCodebook`` per group; ``__call__`` maps raw attributes to their STE-quantized view."""

    def __init__(self, groups: dict[str, list[str]], sizes: dict[str, int], sched: VQSchedule, seed: int,
                 empty_cluster: str = "zero"):
        self.groups, self.sched = groups, sched
        self.books = {g: AttributeCodebook(sizes[g], generator=torch.Generator().manual_seed(seed + i),
                                           empty=empty_cluster)
                      for i, g in enumerate(groups)}

    def freeze(self, codebooks: dict[str, torch.Tensor]) -> None:
        for g, cb in self.books.items():
            if g not in codebooks or codebooks[g].shape[0] != cb.size:
                raise ConfigError(f"compgs: the shared codebook file has no {g!r} codebook of size {cb.size}; learn it "
                                  "with the same quantize/codebook settings on codebook_scene")
            cb.centroids, cb.frozen, cb.assign = codebooks[g].clone(), True, None

    def __call__(self, attrs: dict[str, torch.Tensor], it: int) -> dict[str, torch.Tensor]:
        if not self.groups or not self.sched.quantize_now(it):
            return attrs
        out = dict(attrs)
        for g, members in self.groups.items():
            widths = [attrs[m].shape[1] for m in members]
            q = self.books[g].step(torch.cat([attrs[m] for m in members], 1), it, self.sched)
            for m, part in zip(members, torch.split(q, widths, 1)):
                out[m] = part
        return out

    def state_dict(self) -> dict:
        return {g: {"centroids": b.centroids, "assign": b.assign} for g, b in self.books.items()}

    def load_state_dict(self, state: dict) -> None:
        for g, s in state.items():
            self.books[g].centroids, self.books[g].assign = s["centroids"], s["assign"]
