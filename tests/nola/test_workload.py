"""The ``nola`` workload in-process with LocalContext at smoke scale, config errors, parameter counts."""
import pytest
import torch

from orchestrator.context import LocalContext
from orchestrator.registry import ConfigError, build_config, get_workload
from workloads.nola.inject import AdapterSpec, inject_adapters, merge_all, trainable_count
from workloads.nola.param_counts import checkpoint_bytes, lora_params, nola_params


def _run(tmp_path, **params):
    wl = get_workload("nola")
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path, cache_dir=tmp_path / "cache")
    wl.fn(build_config(wl, params), ctx)
    return ctx.summaries


def test_paper_parameter_formulas():
    # Table 3.10: GPT-2 M (24 layers, d = 1024), NOLA on Q and V with k = l = 1000 -> 0.096M
    assert nola_params(24, 2, 1000, 1000) == 96_000
    # Table 3.12: 96K at k = l = 1000 (GPT-2 M), 144K on GPT-2 L (36 layers)
    assert nola_params(36, 2, 1000, 1000) == 144_000
    assert lora_params(24, 2, 1024, 1024, 4) == 24 * 2 * 4 * 2048
    assert checkpoint_bytes(96_000) == 96_000 * 4 + 8
    # 3 bits: codes plus a float32 min and step for each of the 48 matrices' α and β (96 vectors), plus the seed
    assert checkpoint_bytes(96_000, bits=3, num_vectors=96) == 36_000 + 96 * 8 + 8
    # Table 3.13's 16-bit row is fp16: 2 bytes a number and no quantizer constants
    assert checkpoint_bytes(96_000, bits=16, num_vectors=96) == 192_000 + 8


def test_injected_gpt2_counts_match_formula_and_merge():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=16)).eval()
    ids = torch.randint(0, 50, (1, 8))
    inject_adapters(model, "gpt2", "qv", AdapterSpec("nola", rank=4, k=30, l=20))
    assert trainable_count(model) == nola_params(2, 2, 30, 20)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("beta"):
                p.normal_()
    y = model(ids).logits
    merge_all(model)
    torch.testing.assert_close(model(ids).logits, y, rtol=1e-4, atol=1e-4)


def test_injected_vit_lora_counts():
    from workloads.common.models import build_model

    model = build_model("small_vit", 10, embed_dim=32, depth=2, num_heads=2)
    inject_adapters(model, "vit", "qv", AdapterSpec("lora", rank=2))
    assert trainable_count(model) == lora_params(2, 2, 32, 32, 2)


def test_subspace_run(tmp_path):
    s = _run(tmp_path, experiment="subspace", subspace_d=4, subspace_n=8)
    assert s["pranc_rank"] == 8 and s["nola_rank"] == 16 and s["max_rank"] == 16


def test_fewshot_nola_smoke(tmp_path):
    s = _run(tmp_path, experiment="fewshot", method="nola", steps=3, source_epochs=1, basis_size=20, shots=5)
    # 6 ViT blocks × (fc1, fc2) × (k + l)
    assert s["adapter_params"] == 6 * 2 * 40 and 0.0 <= s["accuracy"] <= 100.0
    assert s["checkpoint_bytes"] == 6 * 2 * 40 * 4 + 8


def test_fewshot_qat_smoke(tmp_path):
    s = _run(tmp_path, experiment="fewshot", method="nola", steps=2, source_epochs=1, basis_size=10, shots=5,
             quant_mode="qat", quant_bits=3)
    # 6 blocks x (fc1, fc2) x (k + l) codes of 3 bits, a float32 min and step per α and per β, one seed
    assert s["checkpoint_bytes"] == (6 * 2 * 20 * 3 + 7) // 8 + 6 * 2 * 2 * 8 + 8


def test_scratch_pranc_smoke(tmp_path):
    s = _run(tmp_path, experiment="scratch", method="pranc", steps=2, pranc_bases=10)
    assert s["trainable_params"] == 10


@pytest.mark.parametrize("params, match", [
    ({"method": "linear", "quant_mode": "ptq"}, "quant_mode"),
    ({"method": "nola", "quant_mode": "qat", "quant_bits": 12}, "2-8"),
    ({"experiment": "e2e", "method": "nola", "target": "qkv"}, "qv or mlp"),
    ({"method": "pranc", "experiment": "fewshot"}, "from-scratch"),
    ({"experiment": "subspace", "subspace_n": 7}, "even"),
])
def test_impossible_options_raise(tmp_path, params, match):
    with pytest.raises(ConfigError, match=match):
        _run(tmp_path, **params)


def test_paper_scale_needs_checkpoint(tmp_path):
    wl = get_workload("nola")
    ctx = LocalContext(seed=0, scale="paper", work_dir=tmp_path, cache_dir=tmp_path / "cache", device="cpu")
    with pytest.raises(ConfigError, match="checkpoint"):
        wl.fn(build_config(wl, {"experiment": "fewshot", "dataset": "digits"}), ctx)
