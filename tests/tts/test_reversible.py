"""Reversible RevCol column: the equation, exact inversion, and gradients equal to plain autograd."""
import torch

from workloads.tts.reversible import column_forward, column_inverse, reversible_column


def test_column_forward_matches_the_equation_by_hand():
    # L_l(lower, upper) = (l + 1) * lower + (upper if given else 0): c'_l = L_l(c'_{l-1}, c_{l+1}) + alpha_l c_l
    levels = [lambda lo, up, k=l: (k + 1) * lo + (0 if up is None else up) for l in range(3)]
    alphas = [torch.tensor(0.5), torch.tensor(2.0), torch.tensor(-1.0)]
    x = torch.tensor(1.0)
    old = [torch.tensor(3.0), torch.tensor(5.0), torch.tensor(7.0)]
    new = column_forward(levels, alphas, x, old)
    c0 = 1 * 1.0 + 5.0 + 0.5 * 3.0        # 7.5
    c1 = 2 * c0 + 7.0 + 2.0 * 5.0         # 32
    c2 = 3 * c1 + 0 + (-1.0) * 7.0        # 89
    assert [float(v) for v in new] == [c0, c1, c2]
    first = column_forward(levels, alphas, x, None)  # first column: no shortcut, no top-down input
    assert [float(v) for v in first] == [1.0, 2.0, 6.0]


def test_inverse_reconstructs_previous_column_to_1e5(micro_model):
    m = micro_model
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        stem = m.embed(x)
        old = m.column(0)(stem, None)
        col = m.column(1)
        new = column_forward(col.levels, col.alphas, stem, old)
        rebuilt = column_inverse(col.levels, col.alphas, stem, new)
    for a, b in zip(old, rebuilt):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5, rtol=0), float((a - b).abs().max())


def _grads(model, x, old, reversible):
    model.zero_grad()
    col = model.column(1)
    col.reversible = reversible
    xs = x.clone().requires_grad_(True)
    olds = [o.clone().requires_grad_(True) for o in old]
    new = col(xs, olds)
    loss = sum((c * torch.linspace(-1, 1, c.numel(), dtype=c.dtype).view_as(c)).sum() + (c ** 2).sum() for c in new)
    loss.backward()
    params = {n: p.grad.clone() for n, p in col.named_parameters()}
    return params, xs.grad, [o.grad for o in olds]


def test_reversible_backward_equals_plain_autograd(micro_model):
    m = micro_model.double()
    torch.manual_seed(1)
    x = torch.rand(2, 8, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        old = m.column(0)(x, None)
    p_plain, x_plain, old_plain = _grads(m, x, old, reversible=False)
    p_rev, x_rev, old_rev = _grads(m, x, old, reversible=True)
    assert set(p_plain) == set(p_rev) and any(".alpha" in n or n.startswith("alpha") for n in p_rev)
    for name in p_plain:
        assert torch.allclose(p_plain[name], p_rev[name], atol=1e-10, rtol=1e-8), name
    assert torch.allclose(x_plain, x_rev, atol=1e-10, rtol=1e-8)
    for a, b in zip(old_plain, old_rev):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-8)


def test_reversible_training_gradients_of_whole_network_match(micro_model):
    m = micro_model.double()
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    y = torch.tensor([1, 7])
    grads = []
    for rev in (False, True):
        for i in range(m.num_exits):
            m.column(i).reversible = rev
        m.zero_grad()
        loss = sum(torch.nn.functional.cross_entropy(lg, y) for lg in m.forward_exits(x))
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None})
    assert set(grads[0]) == set(grads[1])
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-10, rtol=1e-7), name


def test_reversible_function_keeps_no_level_activations(micro_model):
    """Only the column's outputs, the stem output, the alphas and the parameters are saved for backward."""
    col = micro_model.column(1)
    x = torch.rand(1, 8, 16, 16, requires_grad=True)
    old = [t.detach().requires_grad_(True) for t in micro_model.column(0)(x.detach(), None)]
    new = reversible_column(col.levels, col.alphas, x, old)
    saved = new[0].grad_fn.saved_tensors
    n_params = sum(1 for _ in col.parameters())  # includes the alphas
    assert len(saved) == 1 + len(new) + n_params
    assert all(any(s is p for p in col.parameters()) or s.shape in {t.shape for t in new} | {x.shape}
               for s in saved)


def test_alpha_is_kept_away_from_zero(micro_model):
    col = micro_model.column(2)
    with torch.no_grad():
        col.alpha0.fill_(0.0)
        col.alpha1.fill_(-1e-6)
    x = torch.rand(1, 8, 16, 16)
    col.train()  # the floor is enforced while training, when alphas can move
    with torch.no_grad():
        col(x, micro_model.column(1)(x, micro_model.column(0)(x, None)))
    assert torch.all(col.alpha0 == 1e-3) and torch.all(col.alpha1 == -1e-3)
