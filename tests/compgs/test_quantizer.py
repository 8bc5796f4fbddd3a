import pytest
import torch

from workloads.compgs.kmeans import nearest_centroid
from workloads.compgs.quantizer import AttributeCodebook, VQSchedule


def test_schedule_matches_paper_iterations():
    s = VQSchedule(vq_start=20000, assign_end=25000, freq=100, iters=1)
    assert not s.quantize_now(19999) and s.quantize_now(20000) and s.quantize_now(29999)
    reassign = [it for it in range(19000, 30000) if s.reassign_now(it)]
    assert reassign == list(range(20000, 25001, 100))
    with pytest.raises(ValueError, match="freq"):
        VQSchedule(vq_start=5, assign_end=1, freq=100, iters=1)


def test_codebook_step_quantizes_with_ste_and_keeps_assignment_between_reassignments():
    s = VQSchedule(vq_start=2, assign_end=10, freq=4, iters=2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64, requires_grad=True)
    cb = AttributeCodebook(size=5, generator=torch.Generator().manual_seed(1))
    assert cb.step(x, 1, s) is x  # before vq_start: not quantized
    q = cb.step(x, 2, s)
    assert torch.allclose(q.detach(), cb.centroids[cb.assign], atol=1e-12)
    assert torch.equal(cb.assign, nearest_centroid(x.detach(), cb.centroids))  # K-means fixed point
    q.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))  # STE reaches the non-quantized parameters
    before = cb.assign.clone()
    moved = (x.detach() + 5.0 * (torch.arange(40)[:, None] % 2)).requires_grad_(True)
    cb.step(moved, 3, s)  # not a reassignment iteration: indices frozen, centroids follow the members' mean
    assert torch.equal(cb.assign, before)
    for k in before.unique():
        assert torch.allclose(cb.centroids[k], moved.detach()[before == k].mean(0))
    cb.step(moved, 6, s)  # reassignment iteration
    assert torch.equal(cb.assign, nearest_centroid(moved.detach(), cb.centroids))
