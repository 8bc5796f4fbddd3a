"""CompGS against compact3d's semantics (kmeans_quantize.py, train_kmeans.py, run.sh), written out here in
float64: K-means with empty clusters -> 0, the 1-based regulariser / pruning windows, the released variant."""
import torch

from orchestrator.registry import build_config, get_workload
from workloads.compgs.groups import codebook_size
from workloads.compgs.kmeans import kmeans
from workloads.compgs.quantizer import VQSchedule
from workloads.compgs.train import in_reg_window, is_reg_prune_iteration, vq_schedule
from workloads.compgs.variants import apply_variant


def official_cluster_assign(feat, centers, iters):
    """compact3d Quantize_kMeans.cluster_assign: per iteration argmin of cdist, one-hot^T @ feat summed,
    divided by the one-hot counts (+1e-6, which this reference omits as ours does), then a final argmin."""
    k = centers.shape[0]
    for _ in range(iters):
        nn = torch.cdist(feat[None], centers[None])[0].argmin(-1)
        onehot = torch.nn.functional.one_hot(nn, k).to(feat.dtype)
        centers = (onehot.T @ feat) / onehot.sum(0).clamp_min(1e-300)[:, None]
    return centers, torch.cdist(feat[None], centers[None])[0].argmin(-1)


def test_kmeans_matches_official_including_empty_clusters():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(60, 4, generator=g, dtype=torch.float64) + 10.0  # far from the origin: a zeroed centre stays empty
    # two centres far from every point: they get no member, so compact3d sets them to the zero vector
    init = torch.cat([x[:5].clone(), torch.full((2, 4), 50.0, dtype=torch.float64)])
    for iters in (1, 3, 10):
        ours_c, ours_a = kmeans(x, init, iters)
        ref_c, ref_a = official_cluster_assign(x, init, iters)
        assert torch.allclose(ours_c, ref_c, atol=1e-12) and torch.equal(ours_a, ref_a)
        assert torch.equal(ours_c[5:], torch.zeros(2, 4, dtype=torch.float64))
    kept_c, _ = kmeans(x, init, 1, empty="keep")
    assert torch.equal(kept_c[5:], init[5:])


def test_regulariser_and_pruning_windows_are_compact3ds_1_based_iterations():
    reg = [i for i in range(1, 30001) if in_reg_window(i, 15000, 20000)]
    official_reg = [i for i in range(1, 30001) if not (i > 20000 or i < 15000)]  # train_kmeans.py l.160
    assert reg == official_reg and reg[0] == 15000 and reg[-1] == 20000
    prune = [i for i in range(1, 30001) if is_reg_prune_iteration(i, 15000, 20000, 1000)]
    official_prune = [i for i in range(1, 30001) if i > 15000 and i <= 20000 and i % 1000 == 0]  # l.221-222
    assert prune == official_prune == [16000, 17000, 18000, 19000, 20000]


def test_vq_schedule_on_0_based_loop_equals_compact3d_1_based_assignments():
    """train_kmeans.py l.113-129: quantize when iteration > st_iter, assign when iteration % freq == 1, freq
    100 and 5000 after iterations-5000 (so 25001 still assigns). Our loop index is it = iteration - 1."""
    for start in (15000, 20000):
        s = VQSchedule(vq_start=start, assign_end=25000, freq=100, iters=10)
        ours_q = [it + 1 for it in range(30000) if s.quantize_now(it)]
        ours_a = [it + 1 for it in range(30000) if s.reassign_now(it)]
        off_q, off_a = [], []
        for iteration in range(1, 30001):
            freq = 5000 if iteration > 25000 else 100
            if iteration > start:
                off_q.append(iteration)
                if iteration % freq == 1:
                    off_a.append(iteration)
        assert ours_q == off_q and ours_a == off_a


def test_released_variant_is_run_sh_beside_the_texts_settings():
    cfg = apply_variant(build_config(get_workload("compgs"), {"variant": "compgs_released"}))
    assert (cfg.vq_start, cfg.kmeans_iters, cfg.sh_codes, cfg.cov_codes, cfg.color_codes) == (15000, 10, 512, 4096, 4096)
    text = apply_variant(build_config(get_workload("compgs"), {"variant": "compgs_16k"}))
    assert (text.vq_start, text.kmeans_iters, text.sh_codes) == (20000, 1, 0)
    sizes = {g: codebook_size(m, cfg.color_codes, cfg.cov_codes, cfg.pos_codes, 1.0, cfg.sh_codes)
             for g, m in {"sh": ["sh"], "dc": ["dc"], "rot": ["rot"], "sh+dc": ["sh", "dc"]}.items()}
    assert sizes == {"sh": 512, "dc": 4096, "rot": 4096, "sh+dc": 512}  # train_kmeans.py l.79-89
    assert vq_schedule(cfg).vq_start == 15000 and vq_schedule(cfg).iters == 10
