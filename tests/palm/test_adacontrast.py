"""AdaContrast against an independent re-computation of the code PALM's tables use (float64, 1 and several steps).

The reference follows sarthaxxxxx/PALM classification/methods/adacontrast.py line by line with torch's own SGD and
``.backward()``, explicit loops for the kNN vote and the masked InfoNCE, and shares no helper with workloads/palm.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from workloads.palm.adacontrast import (AdaContrast, diversity_loss, enqueue, instance_loss, soft_knn_refine,
                                        update_bank)
from workloads.palm.moco_augment import adjust_hue, gaussian_blur, strong_view, weak_view

TOL = 1e-10


class TinyNet(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5)
        self.fc = nn.Linear(5, classes)

    def forward_features(self, x):
        return torch.relu(self.bn(self.conv(x))).mean((2, 3))

    def forward(self, x):
        return self.fc(self.forward_features(x))


def tiny(seed=0, classes=4):
    torch.manual_seed(seed)
    return TinyNet(classes).double()


class Views:
    """Deterministic, distinct stand-ins for the random weak / strong views."""

    def __init__(self, scale):
        self.scale, self.calls = scale, 0

    def __call__(self, x):
        self.calls += 1
        return (x.roll(self.calls % 2 + 1, dims=3) * self.scale + 0.01 * self.calls).clamp(0, 1)


# ------------------------------------------------------------------ pure functions


def test_soft_knn_refine_matches_an_explicit_vote():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(5, 6, generator=g, dtype=torch.float64)
    bank = torch.randn(20, 6, generator=g, dtype=torch.float64)
    probs = torch.rand(20, 3, generator=g, dtype=torch.float64).softmax(1)
    labels, refined = soft_knn_refine(feats, bank, probs, k=4)
    for i in range(5):
        d = [1 - float(feats[i] @ bank[j]) / (feats[i].norm() * bank[j].norm()) for j in range(20)]
        nearest = sorted(range(20), key=lambda j: d[j])[:4]
        expect = sum(probs[j] for j in nearest) / 4
        assert torch.allclose(refined[i], expect, atol=TOL)
        assert int(labels[i]) == int(expect.argmax())


def test_instance_loss_drops_same_label_negatives():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 1 + 6, generator=g, dtype=torch.float64)
    pseudo = torch.tensor([0, 1, 2, 1])
    queue_labels = torch.tensor([0, 1, 1, 2, 0, 3])
    expect = 0.0
    for i in range(4):
        kept = [float(logits[i, 0])] + [float(logits[i, 1 + j]) for j in range(6) if queue_labels[j] != pseudo[i]]
        expect += -kept[0] + math.log(sum(math.exp(v) for v in kept))
    assert abs(float(instance_loss(logits, pseudo, queue_labels)) - expect / 4) < TOL


def test_diversity_loss_is_minus_the_entropy_of_the_mean_prediction():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]], dtype=torch.float64)
    p = logits.softmax(1).mean(0)
    expect = sum(float(p[c]) * math.log(float(p[c]) + 1e-8) for c in range(3))
    assert abs(float(diversity_loss(logits)) - expect) < TOL


def test_queue_and_bank_rings():
    queue, labels = torch.zeros(2, 5, dtype=torch.float64), torch.zeros(5, dtype=torch.long)
    ptr = enqueue(queue, labels, 3, torch.ones(3, 2, dtype=torch.float64), torch.tensor([7, 8, 9]))
    assert ptr == 1 and labels.tolist() == [9, 0, 0, 7, 8] and queue[:, [3, 4, 0]].eq(1).all()
    # the bank grows by whole batches while smaller than its size (ending at 6 > 5), then cycles over its length
    feats, probs, ptr = None, None, 0
    for step in range(4):
        f = torch.full((3, 2), float(step), dtype=torch.float64)
        feats, probs, ptr = update_bank(feats, probs, ptr, f, f[:, :1], size=5)
    assert len(feats) == 6 and ptr == 3 and feats[:, 0].tolist() == [3, 3, 3, 2, 2, 2]


# ------------------------------------------------------------------ augmentations


def test_views_keep_range_and_flip_or_keep_each_image():
    x = torch.rand(16, 3, 8, 8, dtype=torch.float64)
    w = weak_view(x, torch.Generator().manual_seed(0))
    assert all(torch.equal(w[i], x[i]) or torch.equal(w[i], x[i].flip(-1)) for i in range(16))
    s = strong_view(x, torch.Generator().manual_seed(0))
    assert s.shape == x.shape and s.min() >= 0 and s.max() <= 1 and not torch.equal(s, x)


def test_batched_hue_and_blur_match_torchvision_per_image():
    import torchvision.transforms.v2.functional as TF

    x = torch.rand(6, 3, 9, 9, dtype=torch.float64)
    shift = torch.linspace(-0.1, 0.1, 6, dtype=torch.float64)
    ref = torch.stack([TF.adjust_hue(img, float(h)) for img, h in zip(x, shift)])
    assert (adjust_hue(x, shift) - ref).abs().max() < 1e-6
    sigma = torch.tensor([0.5, 1.0, 0.8, 0.3, 1.0, 0.9], dtype=torch.float64)
    ref = torch.stack([TF.gaussian_blur(img, kernel_size=[7, 7], sigma=[float(s)] * 2) for img, s in zip(x, sigma)])
    assert (gaussian_blur(x, sigma) - ref).abs().max() < 1e-3  # one radius-3 kernel (7 taps) for the batch


# ------------------------------------------------------------------ the online steps


def reference_adacontrast(model, xs, *, queue_size, warmup, k, lr=2e-4, seed=0):
    """methods/adacontrast.py forward + forward_and_adapt with conf.py defaults, written out."""
    classes, dim = model.fc.out_features, model.fc.in_features
    key = copy.deepcopy(model)
    key.requires_grad_(False)
    params = [p for m in model.modules() for n, p in m.named_parameters(recurse=False) if n in ("weight", "bias")]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=True)
    g = torch.Generator().manual_seed(seed)
    mem_feat = F.normalize(torch.randn(dim, queue_size, generator=g, dtype=torch.float64), dim=0)
    mem_labels = torch.randint(0, classes, (queue_size,), generator=g)
    qptr, bank_f, bank_p, bptr, first = 0, torch.empty(0, dim, dtype=torch.float64), None, 0, 0
    weak, strong = Views(0.9), Views(1.1)
    outs = []
    for x in xs:
        xw, xq, xk = weak(x), strong(x), strong(x)
        model.train()
        key.train()
        fw = model.forward_features(xw)
        lw = model.fc(fw)
        with torch.no_grad():
            if first >= warmup:
                dist = 1 - F.normalize(fw, dim=1) @ F.normalize(bank_f, dim=1).T
                _, idx = dist.sort()
                pseudo = bank_p[idx[:, :k], :].mean(1).max(1)[1]
            else:
                pseudo = lw.softmax(1).argmax(1)
                first += len(x)
        fq = model.forward_features(xq)
        lq = model.fc(fq)
        q = F.normalize(fq, dim=1)
        with torch.no_grad():
            for pk, pq in zip(key.parameters(), model.parameters()):
                pk.data = pk.data * 0.999 + pq.data * 0.001
            kk = F.normalize(key.forward_features(xk), dim=1)
        l_pos = torch.einsum("nc,nc->n", q, kk).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", q, mem_feat.clone())
        logits_ins = torch.cat([l_pos, l_neg], 1) / 0.07
        with torch.no_grad():
            idx = torch.arange(qptr, qptr + len(kk)) % queue_size
            mem_feat[:, idx] = kk.T
            mem_labels[idx] = pseudo
            qptr = (qptr + len(kk)) % queue_size
        mask = torch.ones_like(logits_ins, dtype=torch.bool)
        mask[:, 1:] = pseudo.reshape(-1, 1) != mem_labels
        logits_ins = torch.where(mask, logits_ins, torch.tensor([float("-inf")], dtype=torch.float64))
        loss_ins = F.cross_entropy(logits_ins, torch.zeros(len(x), dtype=torch.long))
        loss_cls = F.cross_entropy(lq, pseudo)
        pm = lq.softmax(1).mean(0)
        loss_div = -torch.sum(-pm * torch.log(pm + 1e-8))
        opt.zero_grad()
        (loss_cls + loss_ins + loss_div).backward()
        opt.step()
        with torch.no_grad():
            fb = key.forward_features(xw)
            pb = key.fc(fb).softmax(1)
            if bank_f.shape[0] < queue_size:
                bank_f = torch.cat([bank_f, fb])
                bank_p = pb if bank_p is None else torch.cat([bank_p, pb])
            else:
                i2 = torch.arange(bptr, bptr + len(fb)) % len(bank_f)
                bank_f[i2], bank_p[i2] = fb, pb
            bptr = (bptr + len(fb)) % len(bank_f)
            model.eval()
            outs.append(model(x))
    return outs


@pytest.mark.parametrize("steps", [1, 5])
def test_adacontrast_steps_match_the_reference(steps):
    g = torch.Generator().manual_seed(3)
    xs = [torch.rand(6, 3, 5, 5, generator=g, dtype=torch.float64) for _ in range(steps)]
    ref_model, model = tiny(), tiny()
    # queue 16, kNN from the 3rd batch on (12 samples seen), so the bank rings over its 18 entries by step 4
    ref = reference_adacontrast(ref_model, xs, queue_size=16, warmup=12, k=3)
    ours = AdaContrast(model, queue_size=16, neighbors=3, warmup_samples=12, weak=Views(0.9), strong=Views(1.1),
                       generator=torch.Generator().manual_seed(0))
    for x, r in zip(xs, ref):
        assert torch.allclose(ours.step(x), r, atol=TOL, rtol=0)
    for (n, a), (_, b) in zip(model.named_parameters(), ref_model.named_parameters()):
        assert torch.allclose(a, b, atol=TOL, rtol=0), n
    for (n, a), (_, b) in zip(model.named_buffers(), ref_model.named_buffers()):
        assert torch.allclose(a.double(), b.double(), atol=TOL, rtol=0), n  # BN running statistics too
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), tiny().parameters()))


def test_adacontrast_refuses_a_model_without_a_feature_head():
    with pytest.raises(ValueError, match="forward_features"):
        AdaContrast(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))
