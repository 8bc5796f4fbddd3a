"""Fig. B.1 code-assignment histogram, checked against counts written out by hand."""
import pytest
import torch

from workloads.compgs.code_usage import code_usage_metrics, sorted_code_histogram


def test_sorted_histogram_counts_each_code_most_used_first():
    idx = torch.tensor([2, 2, 2, 0, 1, 1, 2, 0, 2, 1])  # code 2: 5, code 1: 3, code 0: 2, code 3: 0
    hist = sorted_code_histogram(idx, 4)
    assert hist.dtype == torch.float64
    assert torch.equal(hist, torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64))


def test_metrics_per_group_and_shared_group_name():
    # 200 codes: one code holds 50 of 100 Gaussians, 50 codes hold one each, 149 codes unused.
    idx = torch.cat([torch.full((50,), 7), torch.arange(100, 150)])
    cb = torch.zeros(200, 3)
    m = code_usage_metrics({"sh+dc": idx}, {"sh+dc": cb})
    assert m["code_top1_share_sh_dc"] == pytest.approx(50.0)
    assert m["code_top1pct_share_sh_dc"] == pytest.approx(51.0)   # top 2 codes: 50 + 1
    assert m["code_top10pct_share_sh_dc"] == pytest.approx(69.0)  # top 20 codes: 50 + 19
    assert m["codes_used_sh_dc"] == pytest.approx(100.0 * 51 / 200)


def test_index_beyond_codebook_and_empty_model_are_refused():
    with pytest.raises(ValueError, match="codebook size"):
        sorted_code_histogram(torch.tensor([0, 5]), 4)
    with pytest.raises(ValueError, match="empty model"):
        sorted_code_histogram(torch.tensor([], dtype=torch.long), 4)
