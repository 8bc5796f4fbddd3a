import math

import torch

from workloads.compgs.densify import densify_masks, prune_mask, split_children


def test_clone_and_split_masks_by_hand():
    grad = torch.tensor([0.1, 0.0003, 0.0001, 0.5])
    log_s = torch.log(torch.tensor([[0.01, 0.01, 0.01], [0.5, 0.01, 0.01], [0.5, 0.5, 0.5], [0.02, 0.03, 0.011]]))
    clone, split = densify_masks(grad, log_s, grad_threshold=0.0002, percent_dense=0.01, scene_extent=2.0)
    assert clone.tolist() == [True, False, False, False]  # 0.03 > 0.02 makes the last one a split
    assert split.tolist() == [False, True, False, True]


def test_split_children_statistics_and_scales():
    mu = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    log_s = torch.log(torch.tensor([[0.3, 0.1, 0.05]], dtype=torch.float64))
    rot = torch.eye(3, dtype=torch.float64)[None]
    g = torch.Generator().manual_seed(0)
    means, child_log_s = split_children(mu.repeat(20000, 1), log_s.repeat(20000, 1), rot.repeat(20000, 1, 1), g)
    assert torch.allclose(child_log_s[0], torch.log(torch.tensor([0.3, 0.1, 0.05], dtype=torch.float64) / 1.6))
    assert torch.allclose(means.mean(0), mu[0], atol=0.01)
    assert torch.allclose(means.std(0), torch.tensor([0.3, 0.1, 0.05], dtype=torch.float64), rtol=0.03)


def test_prune_mask_threshold():
    logits = torch.tensor([math.log(0.004 / 0.996), math.log(0.006 / 0.994), 3.0])
    assert prune_mask(logits, 0.005).tolist() == [True, False, False]
