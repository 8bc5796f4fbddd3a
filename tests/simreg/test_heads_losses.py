"""SimReg heads and losses on known vectors (dissertation Sec. 2.2.3, Eq. 2.5; CompRess baselines)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workloads.simreg.heads import PredictionHead, Student, build_head, head_dims
from workloads.simreg.losses import compress_1q, compress_2q, multi_teacher_loss, regression_loss


def test_head_dims_follow_the_paper():
    assert head_dims("linear", 64, 256) == [64, 256]
    assert head_dims("mlp2", 64, 256) == [64, 128, 256]
    assert head_dims("mlp4", 64, 256) == [64, 128, 64, 128, 256]
    assert head_dims("mlp4", 512, 2048, equal_width=True) == [512, 2048, 2048, 2048, 2048]
    with pytest.raises(ValueError, match="head must be"):
        head_dims("mlp3", 1, 1)


def test_head_shapes_and_layers_bn_relu_between_none_last():
    head = build_head("mlp4", 8, 16)
    out = head(torch.randn(5, 8))
    assert out.shape == (5, 16)
    assert head(torch.randn(5, 8), upto=2).shape == (5, 8)       # after the 2nd linear layer (width m)
    assert len(head.linears) == 4 and len(head.norms) == 3
    # 4L-MLP = two stacked 2L-MLPs: BN + ReLU after layers 1 and 3, nothing after layer 2 (App. A.2.2.5)
    kinds = [type(n).__name__ for n in head.norms]
    assert kinds == ["Sequential", "Identity", "Sequential"]
    assert isinstance(head.norms[0][0], torch.nn.BatchNorm1d) and isinstance(head.norms[0][1], torch.nn.ReLU)
    mlp2 = build_head("mlp2", 8, 16)
    assert len(mlp2.norms) == 1 and isinstance(mlp2.norms[0][0], torch.nn.BatchNorm1d)
    assert len(build_head("linear", 8, 16).norms) == 0
    # no ReLU after the last layer: outputs can be negative
    assert (out < 0).any()


def test_intermediate_output_of_4l_head_is_the_first_2l_mlp():
    torch.manual_seed(0)
    head = build_head("mlp4", 4, 6, equal_width=True).eval()
    x = torch.randn(3, 4)
    first = head.linears[1](head.norms[0](head.linears[0](x)))
    assert torch.allclose(head(x, upto=2), first)
    assert torch.allclose(head(x), head.linears[3](head.norms[2](head.linears[2](first))))
    with pytest.raises(ValueError, match="upto"):
        head(x, upto=5)


def bn_train(x, bn):
    """BatchNorm1d in train mode by hand: biased batch variance, eps 1e-5, then the affine map."""
    mean, var = x.mean(0), ((x - x.mean(0)) ** 2).mean(0)
    return (x - mean) / torch.sqrt(var + 1e-5) * bn.weight + bn.bias


def lin(x, layer):
    return x @ layer.weight.T + layer.bias


def test_paper_heads_forward_equals_the_text_float64():
    torch.manual_seed(0)
    x = torch.randn(5, 4, dtype=torch.float64)
    mlp2 = build_head("mlp2", 4, 6).double().train()
    h = torch.relu(bn_train(lin(x, mlp2.linears[0]), mlp2.norms[0][0]))       # linear, BN, ReLU, linear
    assert torch.allclose(mlp2(x), lin(h, mlp2.linears[1]), atol=1e-12)
    linear = build_head("linear", 4, 6).double().train()
    assert isinstance(linear.input_norm, torch.nn.Identity)
    assert torch.allclose(linear(x), lin(x, linear.linears[0]), atol=1e-12)


def test_official_heads_forward_equals_the_released_mlp_arch_float64():
    # UCDvision/simreg mlp_arch.py: get_mlp(n_layers=2) adds no BN/ReLU (only n_layers == 4 does), so the 2L head
    # is Linear(m, 2m) then Linear(2m, d); get_linear_proj is BatchNorm1d(m) then Linear(m, d)
    torch.manual_seed(0)
    x = torch.randn(5, 4, dtype=torch.float64)
    mlp2 = build_head("mlp2", 4, 6, reading="official").double().train()
    assert head_dims("mlp2", 4, 6) == [4, 8, 6] and sum(p.numel() for p in mlp2.parameters()) == 4 * 8 + 8 + 8 * 6 + 6
    assert torch.allclose(mlp2(x), lin(lin(x, mlp2.linears[0]), mlp2.linears[1]), atol=1e-12)
    linear = build_head("linear", 4, 6, reading="official").double().train()
    assert torch.allclose(linear(x), lin(bn_train(x, linear.input_norm), linear.linears[0]), atol=1e-12)
    # the 4L head is the same in both readings
    four = [build_head("mlp4", 4, 6, reading=r) for r in ("paper", "official")]
    assert [type(n).__name__ for n in four[0].norms] == [type(n).__name__ for n in four[1].norms]
    with pytest.raises(ValueError, match="head_reading"):
        build_head("mlp2", 4, 6, reading="released")


def test_simreg_config_defaults_to_the_text_heads():
    from workloads.simreg.config import SimRegConfig

    assert SimRegConfig().head_reading == "paper"


def test_head_not_present_in_inference_model():
    backbone = torch.nn.Linear(4, 8)
    student = Student(backbone, [PredictionHead([8, 16, 3]), PredictionHead([8, 5])])
    inf = student.inference_model()
    names = {n for n, _ in inf.named_parameters()}
    assert names == {"weight", "bias"}
    assert inf(torch.randn(2, 4)).shape == (2, 8)
    assert [o.shape[1] for o in student(torch.randn(3, 4))] == [3, 5]     # one head per teacher


def test_regression_loss_on_known_vectors():
    s = torch.tensor([[3.0, 4.0]])          # -> (0.6, 0.8)
    t = torch.tensor([[0.0, 2.0]])          # -> (0, 1)
    expected = 0.6 ** 2 + 0.2 ** 2          # = 2 - 2 * 0.8
    assert math.isclose(regression_loss(s, t).item(), expected, rel_tol=1e-6)
    assert math.isclose(regression_loss(s, 10 * s).item(), 0.0, abs_tol=1e-7)    # scale-invariant


def test_multi_teacher_loss_is_mean_over_heads_eq_2_5():
    s1, t1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])       # orthogonal: 2
    s2, t2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]])      # opposite: 4
    assert math.isclose(multi_teacher_loss([s1, s2], [t1, t2]).item(), 3.0, rel_tol=1e-6)   # (2 + 4) / K
    with pytest.raises(ValueError, match="one head per teacher"):
        multi_teacher_loss([s1], [t1, t2])


def _kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def test_compress_1q_matches_kl_of_softmaxes_over_teacher_bank():
    bank = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), dim=1)
    s, t = torch.tensor([[1.0, 0.2]]), torch.tensor([[0.3, 1.0]])
    tau = 0.5
    sn, tn = F.normalize(s, dim=1)[0].tolist(), F.normalize(t, dim=1)[0].tolist()
    b = bank.tolist()

    def softmax(q):
        e = [math.exp((q[0] * r[0] + q[1] * r[1]) / tau) for r in b]
        return [x / sum(e) for x in e]

    assert math.isclose(compress_1q(s, t, bank, tau, tau).item(), _kl(softmax(tn), softmax(sn)), rel_tol=1e-5)
    # 2q with the student bank equal to the teacher bank is 1q
    assert torch.allclose(compress_2q(s, t, bank, bank, tau, tau), compress_1q(s, t, bank, tau, tau))


def test_table_2_13_augmentation_settings():
    from workloads.simreg.workload import augmentation_plan

    assert augmentation_plan("same-weak") == (True, "weak", "weak")
    assert augmentation_plan("same-strong") == (True, "strong", "strong")
    assert augmentation_plan("different-weak-strong") == (False, "weak", "strong")


def test_views_stay_in_pixel_range_and_differ():
    from workloads.cmsf.augment import two_view_augment

    x = torch.rand(6, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    a, b = two_view_augment(x, g, strength="strong"), two_view_augment(x, g, strength="weak", flip=True)
    assert a.shape == x.shape and b.shape == x.shape
    assert a.min() >= 0 and a.max() <= 1 and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="strength"):
        two_view_augment(x, g, strength="medium")
