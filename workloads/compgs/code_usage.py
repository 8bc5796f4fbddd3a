"""Fig. B.1 (dissertation App. B.5): how unevenly the Gaussians are spread over the codes of each codebook.

The paper plots the sorted histogram of code assignments per parameter (Tanks&Temples 'Train') and reads off that one
code of 512 holds ~5 % of the Gaussians for SH and DC. The authors' code (UCDvision/compact3d) ships no script for this
figure; the histogram is the count of each value of a group's index vector (``train_kmeans.py`` keeps one index per
Gaussian and codebook, ``kmeans_quantize.py`` ``cluster_assign``), which is what is counted here from the saved file.
The figure is summarised by points of its cumulative curve so that it can be aggregated over seeds.
"""
from __future__ import annotations

import torch

# Fractions of the codebook whose most-used codes' share of the Gaussians is reported (besides the single top code).
TOP_FRACTIONS = (0.01, 0.1)


def sorted_code_histogram(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Fig. B.1's curve: the share of Gaussians assigned to each code, most-used first (length ``num_codes``, sums to 1)."""
    if indices.numel() == 0:
        raise ValueError("code histogram of an empty model: no Gaussian is assigned to any code")
    counts = torch.bincount(indices.reshape(-1).long(), minlength=num_codes).to(torch.float64)
    if counts.numel() > num_codes:
        raise ValueError(f"an index is >= the codebook size {num_codes}: the file's indices and codebook disagree")
    return torch.sort(counts / counts.sum(), descending=True).values


def code_usage_metrics(indices: dict[str, torch.Tensor], codebooks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per group: share of the top code, of the top 1 % and 10 % of codes, and the fraction of codes in use.

    Names are ``code_top1_share_<group>``, ``code_top1pct_share_<group>``, ``code_top10pct_share_<group>``,
    ``codes_used_<group>`` (shares in %; '+' of a shared group such as ``sh+dc`` written as '_', MLflow's alphabet)."""
    out: dict[str, float] = {}
    for group, idx in indices.items():
        k = int(codebooks[group].shape[0])
        hist = sorted_code_histogram(idx, k)
        name = group.replace("+", "_")
        out[f"code_top1_share_{name}"] = 100.0 * float(hist[0])
        for frac in TOP_FRACTIONS:
            top = max(1, round(frac * k))
            out[f"code_top{round(frac * 100)}pct_share_{name}"] = 100.0 * float(hist[:top].sum())
        out[f"codes_used_{name}"] = 100.0 * float((hist > 0).sum()) / k
    return out
