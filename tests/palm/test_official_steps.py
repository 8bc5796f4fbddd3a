"""Every adapter against an independent re-computation of the authors' code, 1 and 3 steps, float64, 1e-10.

The references below are written from the official semantics (sarthaxxxxx/PALM classification/methods/*.py, the
cfgs/*/*.yaml values and conf.py defaults), with torch's own Adam/SGD and ``.backward()`` where the code uses them,
so they share no helper with workloads/palm. Settings: the CIFAR-10-C, CIFAR-100-C and ImageNet-C hyperparameters
(with 10 / 100 / 1000 classes), and both readings where the text and the code differ.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn

from workloads.palm.adapters import CoTTA, Law, Palm, Surgical, Tent
from workloads.palm.config import PAPER_SETTINGS

SETTINGS = {"cifar10c": 10, "cifar100c": 100, "imagenetc": 1000}
TOL = 1e-10


class TinyNet(nn.Module):
    """Stem, one first block (name contains 'block1', as in RobustBench's WRN) and a linear head."""

    def __init__(self, classes: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.block1 = nn.Sequential(nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU())
        self.fc = nn.Linear(5, classes)

    def forward(self, x):
        h = self.block1(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(h.mean((2, 3)))


def tiny_model(classes: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = TinyNet(classes).double()
    with torch.no_grad():  # non-trivial affine BN parameters and running statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return model


def batches(n: int = 3, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(8, 3, 6, 6, generator=g, dtype=torch.float64) for _ in range(n)]


class CountingAugment:
    """Deterministic stand-in for the random TTA: a different, reproducible view on every call."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return (x.roll(self.calls % 3 + 1, dims=3) * (1.0 - 0.05 * self.calls) + 0.02).clamp(0, 1)


def configure_bn_batch_stats(model: nn.Module) -> None:
    """methods/tent.py:58-64, ours.py:99-104: BatchNorm2d always normalises with the test batch."""
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats, m.running_mean, m.running_var = False, None, None


def conv_bn(model: nn.Module) -> dict[str, nn.Parameter]:
    return {f"{nm}.{pn}": p for nm, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))
            for pn, p in m.named_parameters(recurse=False)}


def code_entropy_filter(outputs, e_margin):
    """ours.py:129-136 verbatim semantics (a NaN mean when nothing is kept)."""
    ent = -(outputs.softmax(1) * outputs.log_softmax(1)).sum(1)
    return ent[torch.where(ent < e_margin)].mean(0)


def code_consistency(x, y):
    return -(x.softmax(1) * y.log_softmax(1)).sum(1).mean()


def assert_same_params(ours: nn.Module, ref: nn.Module):
    for (n, a), (_, b) in zip(ours.named_parameters(), ref.named_parameters()):
        assert torch.allclose(a, b, atol=TOL, rtol=0), f"{n}: max diff {(a - b).abs().max().item():.3g}"


def moved(model: nn.Module, source: nn.Module) -> set[str]:
    return {n for (n, a), (_, b) in zip(model.named_parameters(), source.named_parameters()) if not torch.equal(a, b)}


# ---------------------------------------------------------------- PALM


def ref_palm_official(model, xs, hp, classes, etas=None):
    """methods/ours.py:35-82 with cfgs/<dataset>/ours.yaml (BETA3 = 1 - α)."""
    configure_bn_batch_stats(model)
    train = conv_bn(model)
    model.requires_grad_(False)
    for p in train.values():
        p.requires_grad_(True)
    beta3, eps = 1 - hp["alpha"], 1e-8
    exp_sens = {n: 0.0 for n in train}
    grad_weight = {n: 0.0 for n in train}
    augment, outs = CountingAugment(), []
    for t, x in enumerate(xs):
        eta = etas[t] if etas else hp["eta"]
        logits = model(x)
        logits_aug = model(augment(x))
        model.zero_grad()
        ones = torch.ones(x.shape[0], classes, dtype=x.dtype)
        torch.mean(torch.sum(-ones * nn.LogSoftmax(dim=-1)(logits / hp["temperature"]), dim=-1)).backward(retain_graph=True)
        conf = {n: p.grad.data for n, p in train.items() if torch.norm(p.grad.data, p=1) <= eta}
        for n, p in train.items():
            if n in conf:
                sens = (p.data * conf[n]).abs()
                exp_sens[n] = beta3 * exp_sens[n] + (1 - beta3) * sens
                grad_weight[n] = (sens - exp_sens[n]).abs()
        groups = []
        for n, v in grad_weight.items():
            step = (v + eps) / (exp_sens[n] + eps)
            step = step.mean().item() if isinstance(step, torch.Tensor) else 0.0
            groups.append({"params": train[n], "lr": hp["kappa"] * step, "betas": (0.9, 0.999),
                           "weight_decay": hp["weight_decay"]})
        opt = torch.optim.Adam(groups)
        opt.zero_grad()
        loss = code_entropy_filter(logits, 0.4) + 0.01 * classes * code_consistency(logits, logits_aug)
        loss.backward()
        opt.step()
        outs.append(logits.detach())
    return outs


def ref_palm_paper(model, xs, hp, classes, etas=None):
    """Sec. 4 as written: KL of Eq. 1 (class mean), κ·i per element (Eq. 8), one persistent Adam, unselected
    tensors frozen, Eq. 9 with H ≤ 0.4 log C over the batch, λ = 0.01."""
    configure_bn_batch_stats(model)
    train = conv_bn(model)
    model.requires_grad_(False)
    for p in train.values():
        p.requires_grad_(True)
    s_hat, moments, eps = {}, {}, 1e-8
    augment, outs = CountingAugment(), []
    for t, x in enumerate(xs):
        eta = etas[t] if etas else hp["eta"]
        logits = model(x)
        logits_aug = model(augment(x))
        p_t = torch.softmax(logits / hp["temperature"], 1)
        kl = (torch.full_like(p_t, 1 / classes) * (math.log(1 / classes) - p_t.log())).sum(1).mean()
        g_kl = torch.autograd.grad(kl, list(train.values()), retain_graph=True)
        ent = -(logits.softmax(1) * logits.log_softmax(1)).sum(1)
        l_ent = (ent * (ent <= 0.4 * math.log(classes))).sum() / x.shape[0]
        total = l_ent + 0.01 * code_consistency(logits, logits_aug)
        g_tot = torch.autograd.grad(total, list(train.values()))
        with torch.no_grad():
            for (n, p), gk, g in zip(train.items(), g_kl, g_tot):
                if gk.abs().sum() > eta:
                    continue
                s = (p * gk).abs()
                s_hat[n] = hp["alpha"] * s + (1 - hp["alpha"]) * s_hat.get(n, torch.zeros_like(s))
                lr = hp["kappa"] * ((s - s_hat[n]).abs() + eps) / (s_hat[n] + eps)
                g = g + hp["weight_decay"] * p
                k, m, v = moments.get(n, (0, torch.zeros_like(p), torch.zeros_like(p)))
                k, m, v = k + 1, 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
                moments[n] = (k, m, v)
                p -= lr * (m / (1 - 0.9**k)) / ((v / (1 - 0.999**k)).sqrt() + 1e-8)
        outs.append(logits.detach())
    return outs


def palm_hp(dataset):
    s = PAPER_SETTINGS[dataset]
    return {k: s[k] for k in ("kappa", "alpha", "temperature", "eta", "weight_decay")}


def run_palm(classes, hp, reading, xs, etas=None):
    model = tiny_model(classes)
    ref_model = copy.deepcopy(model)
    palm = Palm(model, kappa=hp["kappa"], alpha=hp["alpha"], temperature=hp["temperature"], eta=hp["eta"], lam=0.01,
                image_size=6, reading=reading, weight_decay=hp["weight_decay"])
    palm.augment = CountingAugment()
    outs = []
    for t, x in enumerate(xs):
        if etas:
            palm.eta = etas[t]
        outs.append(palm.step(x))
    ref = (ref_palm_official if reading == "official" else ref_palm_paper)(ref_model, xs, hp, classes, etas)
    return palm, model, ref_model, outs, ref


@pytest.mark.parametrize("reading", ["official", "paper"])
@pytest.mark.parametrize("dataset", sorted(SETTINGS))
@pytest.mark.parametrize("n_steps", [1, 3])
def test_palm_matches_reference(dataset, reading, n_steps):
    classes, hp = SETTINGS[dataset], palm_hp(dataset)
    # η scaled so the tiny model has selected and unselected tensors at each data set's ratio of thresholds
    hp["eta"] *= {"official": 0.2 * classes, "paper": 0.2}[reading]
    palm, model, ref_model, outs, ref = run_palm(classes, hp, reading, batches(n_steps), None)
    assert_same_params(model, ref_model)
    for a, b in zip(outs, ref):
        assert torch.allclose(a, b, atol=TOL, rtol=0)
    assert 0 < palm.selected_fraction <= palm.adapted_fraction < 1


@pytest.mark.parametrize("reading", ["official", "paper"])
def test_palm_tensors_selected_once_keep_adapting_only_in_official_reading(reading):
    """Item 4: select everything at step 1, nothing at steps 2-3 (η = inf, then -1)."""
    classes, hp = 10, palm_hp("cifar10c")
    etas = [float("inf"), -1.0, -1.0]
    palm, model, ref_model, _, _ = run_palm(classes, hp, reading, batches(3), etas)
    assert_same_params(model, ref_model)
    after_one = tiny_model(classes)
    p1 = Palm(after_one, kappa=hp["kappa"], alpha=hp["alpha"], temperature=hp["temperature"], eta=float("inf"),
              lam=0.01, image_size=6, reading=reading, weight_decay=hp["weight_decay"])
    p1.augment = CountingAugment()
    p1.step(batches(3)[0])
    changed_later = moved(model, after_one)
    conv_bn_fraction = sum(p.numel() for p in conv_bn(model).values()) / sum(p.numel() for p in model.parameters())
    assert palm.selected_fraction == 0.0
    if reading == "official":
        assert changed_later == set(conv_bn(model))
        assert palm.adapted_fraction == pytest.approx(conv_bn_fraction)
    else:
        assert changed_later == set() and palm.adapted_fraction == 0.0


def test_official_selection_scale_is_c_times_the_kl_scale():
    """Item 1: the code's Eq. 1 gradient is C times the class-averaged KL's, so η selects on a C-times scale."""
    from workloads.palm.losses import kl_to_uniform, uniform_target_cross_entropy

    w = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 4, dtype=torch.float64)
    g_code, = torch.autograd.grad(uniform_target_cross_entropy(x @ w, 3.0), w)
    g_kl, = torch.autograd.grad(kl_to_uniform(x @ w, 3.0), w)
    assert torch.allclose(g_code, 7 * g_kl, atol=1e-12)


# ---------------------------------------------------------------- LAW


def ref_law(model, xs, lr, tau, classes, reading):
    """methods/law.py:29-64 (official: p.grad is never zeroed before the pseudo-label backward)."""
    configure_bn_batch_stats(model)
    train = conv_bn(model)
    model.requires_grad_(False)
    for p in train.values():
        p.requires_grad_(True)
    grad_weight, augment, outs = {}, CountingAugment(), []
    for x in xs:
        logits = model(x)
        logits_aug = model(augment(x))
        if reading == "paper":
            model.zero_grad()
        label = logits.max(1)[1].view(-1)
        nn.functional.nll_loss(nn.functional.log_softmax(logits, dim=1), label).backward(retain_graph=True)
        for n, p in train.items():
            grad_weight[n] = grad_weight.get(n, 0.0) + p.grad ** 2
        vals = {n: v.mean().item() ** 0.5 for n, v in grad_weight.items()}
        lo, hi = min(vals.values()), max(vals.values())
        opt = torch.optim.Adam([{"params": train[n], "lr": lr * ((v - lo) / (hi - lo + 1e-8)) ** tau,
                                 "betas": (0.9, 0.999), "weight_decay": 0.0} for n, v in vals.items()])
        opt.zero_grad()
        ent = -(logits.softmax(1) * logits.log_softmax(1)).sum(1).mean()
        (ent + 0.01 * classes * code_consistency(logits, logits_aug)).backward()
        opt.step()
        outs.append(logits.detach())
    return outs


@pytest.mark.parametrize("reading", ["official", "paper"])
@pytest.mark.parametrize("dataset", sorted(SETTINGS))
@pytest.mark.parametrize("n_steps", [1, 3])
def test_law_matches_reference(dataset, reading, n_steps):
    classes, s = SETTINGS[dataset], PAPER_SETTINGS[dataset]
    model = tiny_model(classes)
    ref_model = copy.deepcopy(model)
    law = Law(model, s["law_lr"], 6, s["law_tau"], 0.01, reading=reading)
    law.augment = CountingAugment()
    xs = batches(n_steps)
    outs = [law.step(x) for x in xs]
    ref = ref_law(ref_model, xs, s["law_lr"], s["law_tau"], classes, reading)
    assert_same_params(model, ref_model)
    for a, b in zip(outs, ref):
        assert torch.allclose(a, b, atol=TOL, rtol=0)


def test_law_readings_differ_from_the_second_batch_on():
    runs = {}
    for reading in ("official", "paper"):
        model = tiny_model(10)
        law = Law(model, 1e-3, 6, 1.0, 0.01, reading=reading)
        law.augment = CountingAugment()
        for x in batches(2):
            law.step(x)
        runs[reading] = model
    assert moved(runs["official"], runs["paper"])


# ---------------------------------------------------------------- TENT and surgical


def ref_tent(model, xs, lr, optimizer):
    """methods/tent.py:19-30, base.py:123-135 (SGD: momentum 0.9, dampening 0, Nesterov)."""
    configure_bn_batch_stats(model)
    model.requires_grad_(False)
    params = [p for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters(recurse=False)]
    for p in params:
        p.requires_grad_(True)
    opt = (torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999)) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr, momentum=0.9, dampening=0.0, nesterov=True))
    outs = []
    for x in xs:
        out = model(x)
        (-(out.softmax(1) * out.log_softmax(1)).sum(1)).mean(0).backward()
        opt.step()
        opt.zero_grad()
        outs.append(out.detach())
    return outs


@pytest.mark.parametrize("dataset", sorted(SETTINGS))
@pytest.mark.parametrize("n_steps", [1, 3])
def test_tent_matches_reference(dataset, n_steps):
    classes, s = SETTINGS[dataset], PAPER_SETTINGS[dataset]
    model = tiny_model(classes)
    ref_model = copy.deepcopy(model)
    tent = Tent(model, s["tent_lr"], s["tent_optimizer"])
    xs = batches(n_steps)
    outs = [tent.step(x) for x in xs]
    ref = ref_tent(ref_model, xs, s["tent_lr"], s["tent_optimizer"])
    assert_same_params(model, ref_model)
    for a, b in zip(outs, ref):
        assert torch.allclose(a, b, atol=TOL, rtol=0)
    assert moved(model, tiny_model(classes)) == {"bn1.weight", "bn1.bias", "block1.1.weight", "block1.1.bias"}


def ref_surgical(model, xs, lr, classes):
    """methods/surgical.py:26-59: conv/BN inside modules named *block1*, SGD-Nesterov, filtered entropy
    (H < 0.4 log C, mean over kept) + 0.01 · consistency."""
    configure_bn_batch_stats(model)
    model.requires_grad_(False)
    for nm, m in model.named_modules():
        if "layer1" in nm or "block1" in nm or "stage_1" in nm:
            if isinstance(m, (nn.BatchNorm2d, nn.Conv2d)):
                m.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, dampening=0.0, nesterov=True)
    augment, outs = CountingAugment(), []
    for x in xs:
        logits = model(x)
        logits_aug = model(augment(x))
        opt.zero_grad()
        loss = code_entropy_filter(logits, 0.4 * math.log(classes)) + 0.01 * code_consistency(logits, logits_aug)
        loss.backward()
        opt.step()
        outs.append(logits.detach())
    return outs


@pytest.mark.parametrize("dataset", sorted(SETTINGS))
@pytest.mark.parametrize("n_steps", [1, 3])
def test_surgical_matches_reference(dataset, n_steps):
    classes, s = SETTINGS[dataset], PAPER_SETTINGS[dataset]
    model = tiny_model(classes)
    ref_model = copy.deepcopy(model)
    surgical = Surgical(model, s["surgical_lr"], 6, 0.01)
    surgical.augment = CountingAugment()
    xs = batches(n_steps)
    outs = [surgical.step(x) for x in xs]
    ref = ref_surgical(ref_model, xs, s["surgical_lr"], classes)
    assert_same_params(model, ref_model)
    for a, b in zip(outs, ref):
        assert torch.allclose(a, b, atol=TOL, rtol=0)
    assert moved(model, tiny_model(classes)) <= {"block1.0.weight", "block1.0.bias", "block1.1.weight", "block1.1.bias"}
    assert surgical.adapted_fraction == pytest.approx(sum(p.numel() for p in model.block1.parameters())
                                                     / sum(p.numel() for p in model.parameters()))


# ---------------------------------------------------------------- CoTTA


def ref_cotta(model, xs, s, reading, n_aug, threshold):
    """methods/cotta.py:20-114 with cfgs/<dataset>/cotta.yaml; the restore masks are drawn from a generator seeded
    like the adapter's, in the code's (module, parameter) order."""
    source = copy.deepcopy(model).eval()
    configure_bn_batch_stats(model)
    model.requires_grad_(True)
    ema = copy.deepcopy(model)
    anchor = copy.deepcopy(model) if reading == "official" else source
    for p in list(ema.parameters()) + list(anchor.parameters()):
        p.detach_()
    state0 = copy.deepcopy(model.state_dict())
    params = [p for p in model.parameters()]
    opt = (torch.optim.Adam(params, lr=s["cotta_lr"], betas=(0.9, 0.999)) if s["cotta_optimizer"] == "adam"
           else torch.optim.SGD(params, lr=s["cotta_lr"], momentum=0.9, dampening=0.0, nesterov=True))
    gen, augment, outs = torch.Generator().manual_seed(7), CountingAugment(), []
    for x in xs:
        outputs = model(x)
        anchor_prob = torch.softmax(anchor(x), dim=1).max(1)[0]
        if anchor_prob.mean(0) < threshold:
            outputs_ema = torch.stack([ema(augment(x)).detach() for _ in range(n_aug)]).mean(0)
        else:
            outputs_ema = ema(x)
        if s["cotta_loss"] == "symmetric":
            loss = (-0.5 * (outputs_ema.softmax(1) * outputs.log_softmax(1)).sum(1)
                    - 0.5 * (outputs.softmax(1) * outputs_ema.log_softmax(1)).sum(1)).mean(0)
        else:
            loss = (-(outputs_ema.softmax(1) * outputs.log_softmax(1)).sum(1)).mean(0)
        loss.backward()
        opt.step()
        opt.zero_grad()
        for ep, p in zip(ema.parameters(), model.parameters()):
            ep.data[:] = 0.999 * ep[:].data[:] + (1 - 0.999) * p[:].data[:]
        for nm, m in model.named_modules():
            for npp, p in m.named_parameters():
                if npp in ["weight", "bias"] and p.requires_grad:
                    mask = (torch.rand(p.shape, generator=gen) < s["cotta_restore"]).double()
                    with torch.no_grad():
                        p.data = state0[f"{nm}.{npp}" if nm else npp] * mask + p * (1.0 - mask)
        outs.append(outputs_ema.detach())
    return outs, ema


@pytest.mark.parametrize("reading", ["official", "paper"])
@pytest.mark.parametrize("dataset", sorted(SETTINGS))
@pytest.mark.parametrize("n_steps", [1, 3])
@pytest.mark.parametrize("augmented", [True, False])
def test_cotta_matches_reference(dataset, reading, n_steps, augmented):
    classes, s = SETTINGS[dataset], dict(PAPER_SETTINGS[dataset])
    s["cotta_restore"] = 0.3  # the code's 0.01 / 0.001 would restore no element of a tiny model in 3 steps
    threshold = 2.0 if augmented else 0.0
    model = tiny_model(classes)
    ref_model = copy.deepcopy(model)
    cotta = CoTTA(model, s["cotta_lr"], 6, 0.999, s["cotta_restore"], threshold, 2, optimizer=s["cotta_optimizer"],
                  symmetric=s["cotta_loss"] == "symmetric", reading=reading, generator=torch.Generator().manual_seed(7))
    cotta.augment = CountingAugment()
    xs = batches(n_steps)
    outs = [cotta.step(x) for x in xs]
    ref, ref_ema = ref_cotta(ref_model, xs, s, reading, 2, threshold)
    assert_same_params(model, ref_model)
    assert_same_params(cotta.teacher, ref_ema)
    for a, b in zip(outs, ref):
        assert torch.allclose(a, b, atol=TOL, rtol=0)


def test_cotta_anchor_readings_use_different_statistics():
    model = tiny_model(10)
    x = batches(1)[0]
    official = CoTTA(copy.deepcopy(model), 1e-3, 6, reading="official").anchor(x)
    paper = CoTTA(copy.deepcopy(model), 1e-3, 6, reading="paper").anchor(x)
    with torch.no_grad():
        assert torch.allclose(paper, model.eval()(x), atol=1e-12)  # running statistics
    assert not torch.allclose(official, paper)
