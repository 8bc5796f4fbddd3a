"""The exit pass and the specialization step without data-dependent shapes (masks as weights), against the
previous implementation that dropped decided samples by indexing, written out here in float64; their host
reads; and the captured (CUDA graphs) and compiled (inductor) modes against the eager one."""
import copy
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from workloads.tts.compiled import ExitRunner, PlainRunner, check_compile_mode
from workloads.tts.early_exit import NEVER, adaptive_forward, max_softmax
from workloads.tts import specialization
from workloads.tts.specialization import Specializer, early_head_parameters, head_gradients, head_loss


def indexing_step(model, x, thresholds, optimizer=None):
    """The old semantics: after each column, the samples whose exit fired are removed by boolean indexing;
    the loss is, per earlier exit j, the mean cross-entropy over the rows (indexed) that left after j,
    towards the selected exit's argmax; torch.optim.SGD steps the early heads. Returns (logits, exits)."""
    n = model.num_exits
    b = x.shape[0]
    exits = torch.full((b,), n - 1, dtype=torch.int64)
    out = None
    active = torch.arange(b)
    head_logits, reached = [], []
    with torch.no_grad():
        stem = model.embed(x)
    feats = None
    for i in range(n):
        with torch.no_grad():
            feats = model.column(i)(stem, feats)
        logits = model.cls_blocks[i](feats[-1])
        if out is None:
            out = logits.new_zeros((b, logits.shape[1]))
        head_logits.append(logits)
        reached.append(active)
        done = (torch.ones(len(active), dtype=torch.bool) if i == n - 1
                else max_softmax(logits.detach()) >= float(thresholds[i]))
        out[active[done]] = logits.detach()[done]
        exits[active[done]] = i
        if not (~done).any():
            break
        active, stem, feats = active[~done], stem[~done], [f[~done] for f in feats]
    if optimizer is not None:
        targets = out.argmax(1)
        terms = []
        for j, (lg, rows) in enumerate(zip(head_logits, reached)):
            later = exits[rows] > j
            if later.any():
                terms.append(F.cross_entropy(lg[later], targets[rows[later]]))
        if terms:
            optimizer.zero_grad(set_to_none=True)
            torch.stack(terms).sum().backward()
            optimizer.step()
    return out, exits


def _float64(model):
    return copy.deepcopy(model).double().eval()


@pytest.mark.parametrize("batch,momentum,closed_form", [(1, 0.0, True), (4, 0.0, False), (4, 0.9, True)])
def test_masked_specialization_equals_indexing_over_several_steps(micro_model, batch, momentum, closed_form,
                                                                  monkeypatch):
    ours, ref = _float64(micro_model), _float64(micro_model)
    g = torch.Generator().manual_seed(1)
    stream = [torch.rand(batch, 3, 16, 16, generator=g, dtype=torch.float64) for _ in range(4)]
    with torch.no_grad():  # thresholds between exit 0's confidences: a mix of exits within and across steps
        conf = max_softmax(ref.forward_exits(torch.cat(stream))[0])
    t = conf.median().item()
    thresholds = torch.tensor([t, t * 1.05, t * 1.1, 0.0], dtype=torch.float64)
    lr = 0.5
    spec = Specializer(ours, thresholds, lr=lr, momentum=momentum)
    # both gradient formulations (closed form: the CUDA default; autograd: the CPU default) give the same steps
    monkeypatch.setattr(specialization, "head_gradients", partial(head_gradients, closed_form=closed_form))
    opt = torch.optim.SGD(early_head_parameters(ref), lr=lr, momentum=momentum)
    seen_exits = set()
    for x in stream:
        trace = spec.step(x)
        ref_logits, ref_exits = indexing_step(ref, x, thresholds, opt)
        assert torch.equal(trace.exits, ref_exits)
        assert torch.allclose(trace.logits, ref_logits, rtol=0, atol=1e-12)
        for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
            assert torch.allclose(p, q, rtol=0, atol=1e-12), name
        seen_exits |= set(ref_exits.tolist())
    assert len(seen_exits) >= 2  # the comparison covered more than one exit


def test_masked_forward_equals_indexing_on_fixed_and_threshold_policies(micro_model):
    model = _float64(micro_model)
    x = torch.rand(5, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        c = max_softmax(model.forward_exits(x)[1]).median().item()
    for thr in ([NEVER, NEVER, 0.0, NEVER], [0.0] * 4, [NEVER] * 4, [NEVER, c, NEVER, NEVER]):
        thr = torch.tensor(thr, dtype=torch.float64)
        trace = adaptive_forward(model, x, thr)
        with torch.no_grad():
            ref_logits, ref_exits = indexing_step(model, x, thr)
        assert torch.equal(trace.exits, ref_exits)
        assert torch.allclose(trace.logits, ref_logits, rtol=0, atol=1e-12)


def test_closed_form_head_gradients_equal_autograd_in_float64(micro_model):
    model = _float64(micro_model)
    g = torch.Generator().manual_seed(5)
    pooled = [torch.randn(4, 32, generator=g, dtype=torch.float64) for _ in range(3)]
    exits, targets = torch.tensor([3, 1, 0, 2]), torch.tensor([7, 2, 2, 9])
    with torch.no_grad():
        for p in early_head_parameters(model):  # away from the init (LayerNorm weight 1, bias 0)
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    for count in (1, 2, 3):
        params = early_head_parameters(model, count)
        ref = torch.autograd.grad(head_loss(model, pooled, exits, targets, count), params)
        ours = head_gradients(model, pooled, exits, targets, count, closed_form=True)
        assert len(ours) == len(ref) == 4 * count
        for a, b in zip(ours, ref):
            assert a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-13)


class HostReads(TorchFunctionMode):
    """Records every tensor operation that copies a value to the host or makes a data-dependent shape."""

    READS = {"__bool__", "item", "tolist", "__float__", "__int__", "__index__", "nonzero", "masked_select", "unique"}

    def __init__(self):
        super().__init__()
        self.reads: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name in self.READS:
            self.reads.append(name)
        if name in ("__getitem__", "__setitem__") and len(args) > 1:
            idx = args[1] if isinstance(args[1], tuple) else (args[1],)
            if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in idx):
                self.reads.append("bool-index")
        return func(*args, **(kwargs or {}))


def test_at_most_one_host_read_per_exit_and_none_in_the_update(micro_model):
    spec = Specializer(micro_model, torch.full((4,), NEVER), lr=0.1)
    runner = ExitRunner(micro_model, torch.full((4,), NEVER))
    x = torch.rand(1, 3, 32, 32)
    with HostReads() as mode:
        runner(x)
    assert mode.reads == ["__bool__"] * 3  # one per early exit, none at the last
    with HostReads() as mode:
        spec.step(x)  # exit pass + update of all three early heads
    assert mode.reads == ["__bool__"] * 3 and spec.updates == 1


def test_compile_mode_errors_name_the_fix():
    with pytest.raises(ValueError, match="one of none, graph, inductor"):
        check_compile_mode("cudagraph", torch.device("cpu"))
    with pytest.raises(ValueError, match="CUDA"):
        check_compile_mode("graph", torch.device("cpu"))


def _compare_modes(model, mode, device, steps=4, atol=1e-5):
    eager, other = copy.deepcopy(model).to(device).eval(), copy.deepcopy(model).to(device).eval()
    g = torch.Generator().manual_seed(4)
    xs = [torch.rand(1, 3, 32, 32, generator=g).to(device) for _ in range(steps)]
    with torch.no_grad():
        conf = max_softmax(eager.forward_exits(torch.cat(xs))[0])
    thr = torch.tensor([conf.median().item(), NEVER, NEVER, 0.0])
    a = Specializer(eager, thr, lr=0.5, momentum=0.9)
    b = Specializer(other, thr, lr=0.5, momentum=0.9, compile=mode)
    for x in xs + xs:  # the second round replays what was captured/compiled in the first
        ta, tb = a.step(x), b.step(x)
        assert torch.equal(ta.exits, tb.exits)
        assert torch.allclose(ta.logits, tb.logits, atol=atol)
        for p, q in zip(eager.parameters(), other.parameters()):
            assert torch.allclose(p, q, atol=atol)
    assert a.updates == b.updates > 0
    x = xs[0]
    assert torch.allclose(PlainRunner(eager)(x), PlainRunner(other, compile=mode)(x), atol=atol)
    ra, rb = ExitRunner(eager, thr)(x), ExitRunner(other, thr, compile=mode)(x)
    assert torch.equal(ra.exits, rb.exits) and torch.allclose(ra.logits, rb.logits, atol=atol)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_graph_mode_gives_the_eager_results(micro_model):
    _compare_modes(micro_model, "graph", torch.device("cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="inductor on CPU compiles C++ for minutes on 2 cores")
def test_inductor_mode_gives_the_eager_results(micro_model):
    _compare_modes(micro_model, "inductor", torch.device("cuda"), atol=1e-4)
