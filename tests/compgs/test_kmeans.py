import torch

from workloads.compgs.kmeans import nearest_centroid, quantize_ste, update_centroids
from workloads.compgs.rle import rle_decode, rle_encode


def test_assignment_equals_brute_force_nearest_centroid():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 7, generator=g, dtype=torch.float64)
    c = torch.randn(33, 7, generator=g, dtype=torch.float64)
    brute = torch.tensor([min(range(33), key=lambda k: float(((x[i] - c[k]) ** 2).sum())) for i in range(500)])
    assert torch.equal(nearest_centroid(x, c, chunk=64), brute)


def test_centroid_update_is_member_mean_and_empty_is_zero_or_kept():
    x = torch.tensor([[0.0, 0.0], [2.0, 4.0], [10.0, 10.0]])
    c = torch.tensor([[1.0, 1.0], [9.0, 9.0], [-5.0, -5.0]])
    new = update_centroids(x, torch.tensor([0, 0, 1]), c)  # compact3d: an empty cluster's centre is 0
    assert torch.equal(new, torch.tensor([[1.0, 2.0], [10.0, 10.0], [0.0, 0.0]]))
    kept = update_centroids(x, torch.tensor([0, 0, 1]), c, empty="keep")
    assert torch.equal(kept, torch.tensor([[1.0, 2.0], [10.0, 10.0], [-5.0, -5.0]]))


def test_ste_forward_is_centroid_and_gradient_reaches_parameter():
    x = torch.tensor([[0.1, 0.2], [0.9, 1.1]], requires_grad=True)
    c = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    q = quantize_ste(x, c, torch.tensor([0, 1]))
    assert torch.equal(q.detach(), c)
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    (q * w).sum().backward()
    assert torch.equal(x.grad, w)


def test_rle_round_trip_and_runs():
    v = torch.tensor([3, 3, 3, 1, 1, 7, 3, 3])
    vals, counts = rle_encode(v)
    assert vals.tolist() == [3, 1, 7, 3] and counts.tolist() == [3, 2, 1, 2]
    assert torch.equal(rle_decode(vals, counts), v)
    assert rle_decode(*rle_encode(torch.empty(0, dtype=torch.long))).numel() == 0
