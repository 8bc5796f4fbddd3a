"""The cmsf workload in-process with LocalContext at smoke scale, and its configuration errors."""
from __future__ import annotations

import pytest
import torch

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload


def run(tmp_path, scale="smoke", **params):
    wl = get_workload("cmsf")
    cfg = build_config(wl, {"dataset": "synthetic", "steps": 3, "linear_epochs": 2, "diagnostics_every": 1, **params})
    ctx = LocalContext(seed=0, scale=scale, work_dir=tmp_path / "w", cache_dir=tmp_path / "c")
    wl.fn(cfg, ctx)
    return ctx


@pytest.mark.parametrize("method", ["byol", "msf", "cmsf_self", "cmsf_sup", "cmsf_semi"])
def test_each_setting_trains_and_reports(tmp_path, method):
    ctx = run(tmp_path, method=method, pseudo_epochs=2)
    s = ctx.summaries
    for key in ("nn1", "nn20", "linear", "nn_share", "step_ms"):
        assert key in s and s[key] >= 0
    assert 0 <= s["nn1"] <= 100 and s["steps"] == 3
    if method != "byol":
        assert "purity_c" in s and "rank5_median" in s
    if method == "cmsf_sup":
        assert s["purity_c"] == 100.0          # same-label constraint: every chosen neighbour shares the label


def test_cmsf_self_uses_m_prime_after_one_epoch_and_draws_fig_2_5(tmp_path, monkeypatch):
    # bank_init=empty, 256 images, batch 64: from step 5 (2nd epoch) every query has a previous visit and M'
    # has usable entries, so the constrained term searches a set built from M' positions
    import workloads.cmsf.workload as wl_mod

    calls = []
    real = wl_mod.self_constraint

    def spy(w, prime, prime_ok, k_prime):
        calls.append((int(prime_ok.sum()), k_prime))
        return real(w, prime, prime_ok, k_prime)

    monkeypatch.setattr(wl_mod, "self_constraint", spy)
    ctx = run(tmp_path, method="cmsf_self", steps=8, memory_size=128, batch_size=64, bank_init="empty")
    assert ctx.summaries["steps"] == 8
    assert calls[0] == (0, 5) and calls[-1][0] > 0
    assert (tmp_path / "w" / "fig2.5_purity_rank.png").is_file()
    for key in ("purity_c", "purity_m", "purity_top_m", "rank5_median"):
        assert key in ctx.summaries
    calls.clear()
    run(tmp_path, method="cmsf_self", steps=2, memory_size=128, batch_size=64, k_prime_reading="others")
    assert [c[1] for c in calls] == [6, 6]            # k' others besides the own entry: k' + 1 positions
    calls.clear()
    run(tmp_path, method="cmsf_self", steps=2, memory_size=128, batch_size=64)
    assert calls == [(128, 5), (128, 5)]              # random initial M' is usable from the first step


def spy_trainer(monkeypatch):
    import workloads.cmsf.workload as wl_mod

    made, embedded = [], []
    real_trainer, real_embed = wl_mod.Trainer, wl_mod.embed

    def trainer(*a, **kw):
        made.append(real_trainer(*a, **kw))
        return made[-1]

    def embed(fn, *a, **kw):
        embedded.append(fn)
        return real_embed(fn, *a, **kw)

    monkeypatch.setattr(wl_mod, "Trainer", trainer)
    monkeypatch.setattr(wl_mod, "embed", embed)
    return made, embedded


@pytest.mark.parametrize("eval_encoder, target_bn", [("online", "own"), ("target", "copy")])
def test_evaluated_encoder_and_target_bn_statistics(tmp_path, monkeypatch, eval_encoder, target_bn):
    made, embedded = spy_trainer(monkeypatch)
    run(tmp_path, method="msf", eval_encoder=eval_encoder, target_bn=target_bn)
    tr = made[0]
    assert embedded[0] is getattr(tr, eval_encoder).backbone        # the authors evaluate encoder_q (online)
    bn = lambda net: [m.running_mean for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    same = all(torch.equal(a, b) for a, b in zip(bn(tr.target), bn(tr.online)))
    assert same == (target_bn == "copy")


def test_semi_pseudo_labeller_reads_u_and_is_kept_across_rounds(tmp_path, monkeypatch):
    import workloads.cmsf.workload as wl_mod

    made, _ = spy_trainer(monkeypatch)
    rounds = []
    real = wl_mod.train_pseudo_labeller

    def spy(clf, feats, labels, **kw):
        rounds.append((id(clf), feats.shape[1], kw["epochs"], kw["lr"]))
        assert torch.allclose(feats.norm(dim=1), torch.ones(feats.shape[0]), atol=1e-5)   # normalised u
        return real(clf, feats, labels, **kw)

    monkeypatch.setattr(wl_mod, "train_pseudo_labeller", spy)
    run(tmp_path, method="cmsf_semi", steps=8, batch_size=64, labelled_fraction=0.5)
    tr = made[0]
    assert len(rounds) == 4 and {r[0] for r in rounds} == {id(tr.classifier)}
    assert {r[1:] for r in rounds} == {(tr.cfg.proj_dim, 10, 0.01)}
    assert tr.classifier[0].in_features == tr.cfg.proj_dim and tr.classifier[0].out_features == 2 * tr.cfg.proj_dim


def test_lowshot_and_target_exclusion_options(tmp_path):
    ctx = run(tmp_path, method="cmsf_sup", topk=3, include_target=False, lowshot=True)
    assert 0 <= ctx.summaries["linear_1pct"] <= 100 and 0 <= ctx.summaries["linear_10pct"] <= 100


def test_balanced_subset_keeps_every_class():
    import torch

    from workloads.cmsf.evaluation import balanced_subset

    labels = torch.arange(10).repeat_interleave(20)
    sel = balanced_subset(labels, 0.01, seed=0)
    assert sorted(labels[sel].tolist()) == list(range(10))              # 1 % of 20 rounds to 0: one each
    assert balanced_subset(labels, 0.1, seed=0).numel() == 20


@pytest.mark.parametrize("params, match", [
    ({"method": "byol", "topk": 5}, "k=1"),
    ({"method": "msf", "top_all": True}, "top_all"),
    ({"method": "cmsf_self", "label_noise": 0.1}, "label_noise"),
    ({"method": "cmsf_semi", "labelled_fraction": 0.0}, "labelled_fraction"),
    ({"dataset": "cifar10c"}, "not supported"),
    ({"batch_size": 100000}, "batch_size"),
])
def test_impossible_options_raise_clear_errors(tmp_path, params, match):
    with pytest.raises(ConfigError, match=match):
        run(tmp_path, **params)


def test_coarse_labels_for_imagenet100_need_a_map(tmp_path):
    from workloads.cmsf.labels import coarse_labels
    import torch

    with pytest.raises(FileNotFoundError, match="coarse label map"):
        coarse_labels(torch.tensor([0, 1]), "imagenet", str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="coarse_map"):
        coarse_labels(torch.tensor([0, 1]), "imagenet100")
