"""CMSF's App. A.1 settings (issue 19/20): Eq. A.1 compute, multi-crop, pseudo-labeller kinds and caching,
fine-tuning, and the diagnostics over training that Figs. 2.5 / A.1 read."""
from __future__ import annotations

import math

import pytest
import torch

from tests.cmsf.test_cmsf_workload import run
from workloads.cmsf.compute import cmsf_crops, crop_weight, minibatch_passes, training_compute
from workloads.cmsf.curves import curve_summary, epoch_at
from workloads.cmsf.pseudo_labels import KnnPseudoLabeller, build_pseudo_labeller, confident_pseudo_labels

# Table A.11 rows as printed: (U fwd, U bwd, U BS, L fwd, L bwd, L BS, iters/epoch, epochs, Total Pass e8, FLOPs e18)
A11 = {
    "Mean Shift": (2, 1, 256, 0, 0, 0, 5004, 200, 7.7, 4),
    "BYOL": (4, 2, 4096, 0, 0, 0, 312, 1000, 76.7, 40),
    "SimCLRv2": (2, 2, 4096, 0, 0, 0, 312, 800, 40.9, 16),
    "PAWS (sup=6720)": (3.1, 3.1, 4096, 1, 1, 6720, 312, 300, 36.6, 21),
    "PAWS (sup=400)": (3.1, 3.1, 256, 1, 1, 400, 5004, 100, 12.0, 7),
    "CMSF_semi-mix prec.": (2, 1, 768, 0, 0, 0, 1668, 200, 7.7, 4),
}


@pytest.mark.parametrize("name", sorted(A11))
def test_eq_a1_reproduces_table_a11(name):
    uf, ub, ubs, lf, lb, lbs, iters, epochs, passes, flops = A11[name]
    fwd, bwd = minibatch_passes(uf, ub, ubs, lf, lb, lbs)
    got = training_compute(fwd, bwd, iters * epochs)
    # independent: Total Pass = (fwd + bwd crops) x batch x iterations; FLOPs = (fwd + 2 bwd) x 3.9e9 per pass
    mb = (uf + ub) * ubs + (lf + lb) * lbs
    assert got["total_passes"] == pytest.approx(mb * iters * epochs)
    # the PAWS rows print 36.6 / 12.0 where their own columns give 36.3 / 11.9 (the paper rounds its 3.1 crops
    # differently), so Total Pass is checked to 1 %; FLOPs to the printed integer
    assert got["total_passes"] / 1e8 == pytest.approx(passes, rel=0.01)
    exact = ((uf * ubs + lf * lbs) + 2 * (ub * ubs + lb * lbs)) * iters * epochs * 3.9e9
    assert got["total_flops"] == pytest.approx(exact)
    if name == "SimCLRv2":
        # the printed 16 is (Fwd + Bwd passes) x 3.9e9, not Eq. A.1's (Fwd + 2 Bwd): Eq. A.1 gives 24 (FIDELITY.md)
        assert round(got["total_flops"] / 1e18) == 24 and round((fwd + bwd) * iters * epochs * 3.9e9 / 1e18) == flops
    else:
        assert round(got["total_flops"] / 1e18) == flops


def test_crop_weight_and_multicrop_passes():
    assert crop_weight(96) == pytest.approx(0.18367, abs=1e-4)       # App. A.1.5.3: one 96 px crop = 0.184 image
    fwd, bwd = cmsf_crops(4, 96, 224)
    assert fwd == pytest.approx(2 + 4 * (96 / 224) ** 2) and bwd == pytest.approx(1 + 4 * (96 / 224) ** 2)


def test_curve_summary_reads_the_epoch_ending_each_share():
    assert [epoch_at(p, 200) for p in (10, 50, 100)] == [20, 100, 200]
    assert [epoch_at(p, 3) for p in (10, 40, 70, 100)] == [1, 2, 3, 3]
    pts = [{"epoch": 1, "a": 1.0}, {"epoch": 2, "a": 2.0, "b": 5.0}, {"epoch": 3, "a": 3.0}]
    out = curve_summary(pts, 3, ("a", "b"))
    assert out["a_at10"] == 1.0 and out["a_at40"] == 2.0 and out["a_at100"] == 3.0
    assert "b_at10" not in out and out["b_at100"] == 5.0            # last measured value at or before the share


def test_pseudo_labeller_kinds_follow_the_authors_heads():
    shapes = {k: [tuple(p.shape) for p in build_pseudo_labeller(8, 3, k).parameters() if p.dim() == 2]
              for k in ("linear", "mlp2", "mlp3")}
    assert shapes == {"linear": [(3, 8)], "mlp2": [(16, 8), (3, 16)], "mlp3": [(16, 8), (16, 16), (3, 16)]}
    with pytest.raises(ValueError, match="Table A.7"):
        build_pseudo_labeller(8, 3, "svm")


def test_knn_labeller_vote_shares_are_the_confidence():
    clf = KnnPseudoLabeller(num_classes=3, k=3)
    feats = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]], dtype=torch.float64)
    clf.fit(feats, torch.tensor([0, 0, 1, 2]))
    q = torch.tensor([[1.0, 0.05], [0.0, 1.0]], dtype=torch.float64)
    prob = torch.softmax(clf(q), dim=1)
    # query 0's 3 nearest: labels 0, 0, 1 -> 2/3, 1/3; query 1's: 2 first, then the two nearest of the rest
    assert prob[0].tolist() == pytest.approx([2 / 3, 1 / 3, 0.0], abs=1e-9)
    assert confident_pseudo_labels(clf, q, 0.6)[0].item() == 0
    assert confident_pseudo_labels(clf, q, 0.7)[0].item() == -1
    assert build_pseudo_labeller(4, 3, "knn", knn_k=7).k == 7


def test_compute_only_reports_eq_a1_without_training(tmp_path):
    s = run(tmp_path, method="msf", compute_only=True, forward_flops=3.9e9, batch_size=32).summaries
    assert "nn1" not in s and s["crops_fwd"] == 2 and s["crops_bwd"] == 1
    assert s["total_pass_1e8"] == pytest.approx(3 * 32 * 3 / 1e8)     # steps=3 caps the iterations
    assert s["train_flops_1e18"] == pytest.approx((2 * 32 + 2 * 32) * 3 * 3.9e9 / 1e18)


def test_multicrop_semi_variants_and_finetune_train_and_report(tmp_path):
    s = run(tmp_path / "a", method="cmsf_self", multi_crop=2).summaries
    assert s["crops_fwd"] > 2 and math.isfinite(s["final_loss"]) and "rank5_median_at100" in s
    s = run(tmp_path / "b", method="cmsf_semi", pseudo_epochs=1, pseudo_classifier="knn", pseudo_cache="offline",
            pseudo_threshold=0.0, finetune=True, finetune_epochs=1).summaries
    assert 0 <= s["finetune_10pct"] <= 100 and "linear_10pct" in s
    assert s["pseudo_conf_share_at100"] == pytest.approx(100.0)      # threshold 0: every pseudo-label is kept
    assert 0 <= s["pseudo_acc_at100"] <= 100 and "purity_m_at10" in s


def test_paper_scale_compute_reproduces_table_a11s_mean_shift_row():
    from orchestrator.context import LocalContext
    from workloads.cmsf.config import CmsfConfig
    from workloads.cmsf.workload import compute_metrics
    from workloads.common.datasets import dataset_info

    cfg = CmsfConfig(method="msf", batch_size=256, multi_crop_size=96)
    ctx = LocalContext(seed=0, scale="paper")
    info = dataset_info("imagenet")
    out = compute_metrics(cfg, ctx, None, info, iters_per_epoch=1281167 // 256, steps=5004 * 200)
    assert out["minibatch"] == 768 and out["iters_per_epoch"] == 5004 and out["train_epochs"] == 200
    assert round(out["total_pass_1e8"], 1) == 7.7 and round(out["train_flops_1e18"]) == 4
    multi = compute_metrics(CmsfConfig(method="cmsf_self", batch_size=256, multi_crop=4, multi_crop_size=96), ctx,
                            None, info, iters_per_epoch=5004, steps=5004 * 200)
    assert multi["crops_fwd"] == pytest.approx(2 + 4 * (96 / 224) ** 2)


def test_appendix_figures_draw_from_aggregated_frames(tmp_path):
    import pandas as pd

    from results.tables.cmsf_appendix import plot_accuracy_compute, plot_purity_rank, plot_semi_accuracy

    row = {"method": "cmsf_self", "multi_crop": "0", "n": 1}
    for p in (10, 50, 100):
        row.update({f"{k}_at{p}_mean": float(p) for k in ("purity_c", "purity_m", "purity_top_m", "rank5_median",
                                                           "pseudo_acc", "pseudo_conf_share")})
    frame = pd.DataFrame([row])
    for fn in (plot_purity_rank, plot_semi_accuracy):
        png = tmp_path / f"{fn.__name__}.png"
        fn(frame, png)
        assert png.stat().st_size > 1000
    compute = pd.DataFrame([{"method": "msf", "multi_crop": "0", "linear_mean": 50.0, "linear_std": float("nan"),
                             "train_flops_1e18_mean": 1e-9, "n": 1}])
    png = tmp_path / "fig2_1.png"
    plot_accuracy_compute(compute, png)
    assert png.stat().st_size > 1000
