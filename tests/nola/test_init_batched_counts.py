"""NOLA's initialisation as in the authors' code, the batched ΔW (issue 18.2), Table 3.15-3.17 counts, 16-bit storage.

Expectations are computed here independently, in float64, from the official semantics:
model_nola.py (GenerateParams: U(-1,1)/√k bases, ∂L/∂cᵢ = ⟨∂L/∂W, basisᵢ⟩; LoRA wrapper: α = β = 0, A₀ kaiming,
B₀ = 0) and vit/NOLA.py (NOLA2: kaiming bases, α = 1/k, β = 1/l, out = (1/r)·x A B).
"""
import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from workloads.nola.adapted import AdaptedLayer
from workloads.nola.inject import AdapterSpec, inject_adapters, trainable_count
from workloads.nola.nola import BasisBank, DeltaGroup, NOLADelta, nola_deltas_batched
from workloads.nola.param_counts import in_paper_thousands, lora_params, nola_params
from workloads.nola.quantize import quantize_values


def _uniform_ok(x: torch.Tensor, bound: float) -> None:
    """Entries of U(-b, b): inside the bound, reaching near it, mean 0 and variance b²/3 (N = x.numel())."""
    x = x.double().flatten()
    n = x.numel()
    assert float(x.abs().max()) <= bound * (1 + 1e-6)
    assert float(x.abs().max()) > 0.99 * bound
    var = bound**2 / 3
    assert abs(float(x.mean())) < 5 * math.sqrt(var / n)
    # the sample variance of U(-b, b) has relative std √(4/5 / n); allow 5 of them
    assert abs(float(x.var()) / var - 1) < 5 * math.sqrt(0.8 / n)


def test_offset_init_distribution_is_the_gpt2_code():
    k, l, r, out_f, in_f = 64, 48, 4, 30, 50
    bank = BasisBank(3, k, l, r, out_f, in_f, init="offset")
    _uniform_ok(bank.a, 1 / math.sqrt(k))   # U(-1,1) · 1/√k (model_nola.py l.91-92)
    _uniform_ok(bank.b, 1 / math.sqrt(l))
    delta = NOLADelta(bank, offset_seed=5)
    assert torch.count_nonzero(delta.alpha) == 0 and torch.count_nonzero(delta.beta) == 0
    _uniform_ok(delta.a0, 1 / math.sqrt(in_f))  # kaiming_uniform_(a=√5) of an (r × in) weight
    assert torch.count_nonzero(delta()) == 0   # B₀ = 0 and β = 0


def test_vit_init_distribution_and_delta_at_start():
    k, l, r, out_f, in_f = 40, 24, 2, 12, 20
    bank = BasisBank(1, k, l, r, out_f, in_f, init="vit")
    # kaiming_uniform_(a=√5) of (k, in, r) and (l, r, out) tensors: bound 1/√(fan_in) = 1/√(in·r), 1/√(r·out)
    _uniform_ok(bank.a, 1 / math.sqrt(in_f * r))
    _uniform_ok(bank.b, 1 / math.sqrt(out_f * r))
    delta = NOLADelta(bank)
    assert torch.all(delta.alpha == 1 / k) and torch.all(delta.beta == 1 / l)
    a, b = bank.a.double(), bank.b.double()
    # NOLA2.forward is (1/r) x @ (Σ αᵢ Aᵢ) @ (Σ βⱼ Bⱼ); with α = 1/k, β = 1/l the factors are the bases' means.
    # As an (out × in) matrix (our Aᵢ, Bⱼ are theirs transposed): ΔW[o, i] = (1/r) Σ_t mean(B)[o, t] mean(A)[t, i].
    expected = torch.zeros(out_f, in_f, dtype=torch.float64)
    for o in range(out_f):
        for i in range(in_f):
            expected[o, i] = sum((b[:, o, t].mean()) * (a[:, t, i].mean()) for t in range(r)) / r
    torch.testing.assert_close(delta().double(), expected, rtol=1e-5, atol=1e-7)
    assert float(expected.abs().max()) > 0  # unlike LoRA's convention, ΔW ≠ 0 at start


def _official_sgd(bases_a, bases_b, a0, g, scale, lr, steps):
    """Independent float64 SGD on L = ⟨G, ΔW⟩ with ΔW = scale·B·A, A = A₀ + Σ αᵢ Aᵢ, B = Σ βⱼ Bⱼ, starting at α = β = 0.
    Gradients as model_nola.py's GenerateParams.backward forms them: ∂L/∂cᵢ = Σ (∂L/∂factor ⊙ basisᵢ)."""
    k, l = bases_a.shape[0], bases_b.shape[0]
    alpha, beta = np.zeros(k), np.zeros(l)
    history = []
    for _ in range(steps):
        a = a0 + np.einsum("i,irn->rn", alpha, bases_a)
        b = np.einsum("j,jor->or", beta, bases_b)
        grad_a = scale * b.T @ g          # ∂L/∂A for L = ⟨G, scale·B A⟩
        grad_b = scale * g @ a.T          # ∂L/∂B
        ga = np.array([(grad_a * bases_a[i]).sum() for i in range(k)])
        gb = np.array([(grad_b * bases_b[j]).sum() for j in range(l)])
        alpha, beta = alpha - lr * ga, beta - lr * gb
        history.append(scale * np.einsum("j,jor->or", beta, bases_b) @ (a0 + np.einsum("i,irn->rn", alpha, bases_a)))
    return history


@pytest.mark.parametrize("shared", [True, False])
def test_sgd_steps_through_the_batched_group_match_the_official_semantics(shared):
    k, l, r, out_f, in_f, lr, c = 6, 5, 2, 4, 3, 0.5, 2.0
    banks = [BasisBank(7, k, l, r, out_f, in_f, init="offset").double()] * 2 if shared else [
        BasisBank(s, k, l, r, out_f, in_f, init="offset").double() for s in (7, 8)]
    deltas = [NOLADelta(bank, alpha_scale=c, offset_seed=s).double() for bank, s in zip(banks, (11, 12))]
    group = DeltaGroup()
    for d in deltas:
        group.add(d)
    gen = torch.Generator().manual_seed(0)
    gs = [torch.randn(out_f, in_f, generator=gen, dtype=torch.float64) for _ in deltas]
    expected = [_official_sgd(d.bank.a.numpy().copy(), d.bank.b.numpy().copy(), d.a0.numpy().copy(), g.numpy(),
                              c / r, lr, steps=3) for d, g in zip(deltas, gs)]
    opt = torch.optim.SGD([p for d in deltas for p in d.parameters()], lr=lr)
    for step in range(3):
        loss = sum((g * d()).sum() for d, g in zip(deltas, gs))
        opt.zero_grad()
        loss.backward()
        opt.step()
        for d, exp in zip(deltas, expected):
            torch.testing.assert_close(d().detach(), torch.from_numpy(exp[step]), rtol=1e-10, atol=1e-12)
    assert float(deltas[0].alpha.detach().abs().max()) > 0  # α moves from the second step on (B ≠ 0 after the first)


def _tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=3, n_embd=16, n_head=2, vocab_size=40, n_positions=16)).double().eval()


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("init", ["offset", "vit"])
def test_batched_delta_equals_per_layer_delta_and_gradients(shared, init):
    batched, single = _tiny_gpt2(), _tiny_gpt2()
    for model, flag in ((batched, True), (single, False)):
        inject_adapters(model, "gpt2", "qv", AdapterSpec("nola", rank=3, k=9, l=7, shared_basis=shared, init=init,
                                                         batched=flag))
        model.double()
    gen = torch.Generator().manual_seed(1)
    for p1, p2 in zip(batched.parameters(), single.parameters()):
        if p1.requires_grad:
            v = torch.randn(p1.shape, generator=gen, dtype=torch.float64)
            p1.data.copy_(v)
            p2.data.copy_(v)
    ids = torch.randint(0, 40, (2, 8), generator=gen)
    for _ in range(2):  # a second forward/backward re-forms ΔW (no stale graph)
        for model in (batched, single):
            model.zero_grad()
            model(input_ids=ids, labels=ids).loss.backward()
        for l1, l2 in zip((m for m in batched.modules() if isinstance(m, AdaptedLayer)),
                          (m for m in single.modules() if isinstance(m, AdaptedLayer))):
            torch.testing.assert_close(l1.delta_matrix(), l2.delta_matrix(), rtol=1e-12, atol=1e-14)
        for p1, p2 in zip(batched.parameters(), single.parameters()):
            if p1.requires_grad:
                torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-10, atol=1e-13)
    groups = {id(m.group): m.group for m in batched.modules() if isinstance(m, NOLADelta)}
    assert len(groups) == 1 and len(next(iter(groups.values())).members) == 6  # 3 layers x (Q, V): one computation
    if not shared:  # per-layer banks now view one stacked tensor: the bases are stored once
        storages = {m.bank.a.untyped_storage().data_ptr() for m in batched.modules() if isinstance(m, NOLADelta)}
        assert len(storages) == 1


def test_group_sees_optimizer_steps_and_quantization():
    bank = BasisBank(0, 5, 5, 2, 3, 4, init="offset")
    d1, d2 = NOLADelta(bank, offset_seed=1), NOLADelta(bank, offset_seed=2)
    group = DeltaGroup()
    group.add(d1)
    group.add(d2)
    with torch.no_grad():
        d1.beta.fill_(0.3)
    first = d1().detach().clone()
    assert torch.count_nonzero(first) > 0
    with torch.no_grad():
        d1.beta.mul_(2)
    torch.testing.assert_close(d1().detach(), 2 * first)   # in-place change seen, not a stale cache
    d1.quantize_(2)
    d1.qat_bits = 3
    standalone = NOLADelta(bank, offset_seed=1)
    standalone.load_state_dict(d1.state_dict())
    standalone.qat_bits = 3
    torch.testing.assert_close(d1(), standalone())


def test_batched_function_by_hand_two_layers_shared():
    alphas = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    betas = torch.tensor([[1.0], [0.5]], dtype=torch.float64)
    bases_a = torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]], dtype=torch.float64)   # k=2, (r=1, in=2)
    bases_b = torch.tensor([[[1.0], [-1.0]]], dtype=torch.float64)             # l=1, (out=2, r=1)
    got = nola_deltas_batched(alphas, betas, bases_a, bases_b, 0.5)
    # layer 0: A = [1,2], B = [1,-1]ᵀ; layer 1: A = 2·[3,4] = [6,8], B = 0.5·[1,-1]ᵀ
    expected = 0.5 * torch.tensor([[[1.0, 2.0], [-1.0, -2.0]], [[3.0, 4.0], [-3.0, -4.0]]], dtype=torch.float64)
    torch.testing.assert_close(got, expected)


def test_resnet20_from_scratch_counts_table_3_17(tmp_path):
    """Table 3.17: NOLA 12,876 = 19 convolutions × (250 + 250) + classifier (1000 + 1000) + 688 BN channels × 2."""
    from orchestrator.context import LocalContext
    from orchestrator.registry import build_config, get_workload
    from workloads.nola.resnet20 import ResNet20A

    assert sum(p.numel() for p in ResNet20A().parameters()) == 269_722  # "trained model" row
    convs = sum(isinstance(m, nn.Conv2d) for m in ResNet20A().modules())
    bn_channels = 16 + 6 * 16 + 6 * 32 + 6 * 64
    assert convs == 19 and convs * 500 + 2000 + 2 * bn_channels == 12_876
    wl = get_workload("nola")
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path, cache_dir=tmp_path / "cache")
    cfg = build_config(wl, {"experiment": "scratch", "method": "nola", "arch": "resnet20", "basis_size": 250,
                            "classifier_basis": 1000, "rank": 4, "steps": 1, "batch_size": 4})
    wl.fn(cfg, ctx)
    assert ctx.summaries["trainable_params"] == 12_876


def test_vit_parameter_counts_are_printed_in_units_of_2_to_the_20():
    """Tables 3.15/3.16 print counts / 2**20 (141K = 147,456 = LoRA r=4 on ViT-B's Q and V)."""
    vit = {"vit_b": (12, 768), "vit_b_mae": (12, 768), "vit_l": (24, 1024), "vit_l_mae": (24, 1024)}
    assert lora_params(12, 2, 768, 768, 4) == 147_456 and round(in_paper_thousands(147_456)) == 141
    for name in ("nola-table3.15.csv", "nola-table3.16.csv"):
        from results.spec import PUBLISHED_DIR

        frame = pd.read_csv(PUBLISHED_DIR / name, comment="#")
        checked = 0
        for _, row in frame[frame.method.isin(["lora", "nola"])].iterrows():
            depth, width = vit[row.arch]
            if row.method == "lora":
                assert row.target == "qv"  # the ViT code adapts Q and V only (vit/lora.py l.109-115)
                count = lora_params(depth, 2, width, width, int(row["rank"]))
            else:
                count = nola_params(depth, 2, int(row.basis_size), int(row.basis_size))
            assert round(in_paper_thousands(count)) == row.trainable_k, row.to_dict()
            assert row.trainable_params == count
            checked += 1
        assert checked >= 2


def test_sixteen_bit_row_is_fp16():
    x = torch.linspace(-1.3, 2.7, 101, dtype=torch.float64) / 3
    expected = torch.from_numpy(x.numpy().astype(np.float16).astype(np.float64))
    torch.testing.assert_close(quantize_values(x, 16), expected, rtol=0, atol=0)
    assert not torch.equal(quantize_values(x, 16), x)


def test_fewshot_default_init_is_the_vit_code_and_e2e_is_the_offset(tmp_path):
    from orchestrator.registry import build_config, get_workload
    from workloads.nola.workload import adapter_spec

    wl = get_workload("nola")
    assert adapter_spec(build_config(wl, {"experiment": "fewshot"}), seed=0).init == "vit"
    assert adapter_spec(build_config(wl, {"experiment": "e2e", "target": "qv"}), seed=0).init == "offset"
    assert adapter_spec(build_config(wl, {"experiment": "scratch"}), seed=0).init == "offset"
    model = copy.deepcopy(_tiny_gpt2())
    inject_adapters(model, "gpt2", "qv", AdapterSpec("nola", rank=2, k=4, l=4))
    assert trainable_count(model) == nola_params(3, 2, 4, 4)
