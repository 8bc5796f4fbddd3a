"""Test-time specialization: targets, loss, and which parameters may move."""
import torch
import torch.nn.functional as F

from workloads.tts.early_exit import NEVER, fixed_exit_thresholds
from workloads.tts.specialization import Specializer, pseudo_labels, specialization_loss


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _changed(model, before):
    return {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}


def test_pseudo_labels_are_the_selected_exit_predictions():
    assert pseudo_labels(torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])).tolist() == [1, 0]


def test_loss_sums_earlier_exits_cross_entropy_by_hand():
    # two samples: sample 0 left at exit 2 (exits 0, 1 learn), sample 1 at exit 1 (exit 0 learns)
    l0 = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    l1 = torch.tensor([[0.5, 0.5], [3.0, 0.0]], dtype=torch.float64)
    l2 = torch.tensor([[0.0, 4.0], [7.0, -7.0]], dtype=torch.float64)  # row 1 computed, unused (left at exit 1)
    exits, targets = torch.tensor([2, 1]), torch.tensor([1, 0])

    def ce(z, t):  # -log softmax(z)[t], straight from the definition
        return -(z[t] - torch.log(torch.exp(z).sum()))

    exit0 = (ce(l0[0], 1) + ce(l0[1], 0)) / 2
    exit1 = ce(l1[0], 1)  # sample 1 chose exit 1 itself: no loss there
    assert torch.allclose(specialization_loss([l0, l1, l2], exits, targets), exit0 + exit1)
    assert specialization_loss([l0[:1]], torch.tensor([0]), targets[:1]).item() == 0.0  # nothing to learn


def test_specialization_changes_only_earlier_heads(micro_model):
    x = torch.rand(1, 3, 32, 32)
    before = _snapshot(micro_model)
    spec = Specializer(micro_model, torch.full((4,), NEVER), lr=0.5)
    trace = spec.step(x)
    assert trace.exits.item() == 3
    changed = _changed(micro_model, before)
    early = {n for n in before if n.startswith(("cls_blocks.0.", "cls_blocks.1.", "cls_blocks.2."))}
    assert changed == early  # every early head moved; backbone, alphas and the last head did not

    before = _snapshot(micro_model)
    Specializer(micro_model, fixed_exit_thresholds(1, 4), lr=0.5).step(x)
    assert _changed(micro_model, before) == {n for n in before if n.startswith("cls_blocks.0.")}

    before = _snapshot(micro_model)
    Specializer(micro_model, fixed_exit_thresholds(0, 4), lr=0.5).step(x)
    assert _changed(micro_model, before) == set()  # exit 0 answered: nothing earlier to teach


def test_update_is_one_sgd_step_toward_the_selected_prediction(micro_model):
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        tops = micro_model.column_tops(x)
        target = micro_model.cls_blocks[3](tops[3]).argmax(1)
    head0 = micro_model.cls_blocks[0]
    w = head0.classifier[1].weight.detach().clone().requires_grad_(True)
    b = head0.classifier[1].bias.detach().clone().requires_grad_(True)
    ln = head0.classifier[0]
    z = F.linear(F.layer_norm(tops[0].mean((2, 3)), ln.normalized_shape, ln.weight, ln.bias, ln.eps), w, b)
    F.cross_entropy(z, target).backward()
    lr = 0.1
    Specializer(micro_model, torch.full((4,), NEVER), lr=lr).step(x)
    assert torch.allclose(head0.classifier[1].weight, w - lr * w.grad, atol=1e-6)
    assert torch.allclose(head0.classifier[1].bias, b - lr * b.grad, atol=1e-6)


def test_repeated_specialization_makes_an_early_exit_agree_and_fire(micro_model):
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        target = micro_model(x).argmax(1)
    spec = Specializer(micro_model, torch.tensor([0.9, NEVER, NEVER, 0.0]), lr=0.5)
    exits = [spec.step(x).exits.item() for _ in range(60)]
    assert exits[0] == 3 and exits[-1] == 0
    with torch.no_grad():
        assert micro_model.forward_exits(x)[0].argmax(1).item() == target.item()
