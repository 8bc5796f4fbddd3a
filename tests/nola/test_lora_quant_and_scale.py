"""LoRA factor quantization (Table 3.13's LoRA rows) and Table 3.12's rank-dependent scale c."""
import torch

from orchestrator.registry import build_config, get_workload
from workloads.nola.lora import LoRADelta
from workloads.nola.workload import adapter_spec


def test_lora_ptq_leaves_at_most_2_to_the_bits_levels_per_factor():
    torch.manual_seed(0)
    d = LoRADelta(8, 6, rank=2)
    with torch.no_grad():
        d.b.normal_()
    before = d().clone()
    d.quantize_(3)
    assert d.a.unique().numel() <= 8 and d.b.unique().numel() <= 8
    assert not torch.equal(before, d()) and torch.allclose(before, d(), atol=0.5)


def test_lora_qat_forward_is_quantized_and_gradient_passes_straight_through():
    torch.manual_seed(0)
    d = LoRADelta(4, 4, rank=2)
    with torch.no_grad():
        d.b.normal_()
    d.qat_bits = 2
    out = d()
    float_product = d.scale * d.b.detach() @ d.a.detach()
    assert out.detach().ne(float_product).any()  # the forward used the 2-bit codes, not the float factors
    out.sum().backward()
    assert d.a.grad is not None and d.a.grad.abs().sum() > 0 and d.b.grad.abs().sum() > 0


def test_table_3_12_scale_rule_applies_when_lora_alpha_is_zero():
    wl = get_workload("nola")
    spec = lambda **p: adapter_spec(build_config(wl, {"method": "nola", **p}), seed=0)  # noqa: E731
    assert spec(rank=8, lora_alpha=0).alpha == 1.0 and spec(rank=4, lora_alpha=0).alpha == 1.0
    assert spec(rank=2, lora_alpha=0).alpha == 0.5 and spec(rank=1, lora_alpha=0).alpha == 0.5
    assert spec(rank=1, lora_alpha=2.0).alpha == 2.0
