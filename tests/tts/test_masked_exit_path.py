"""The exit pass and the specialization step without data-dependent shapes (masks as weights), against the
previous implementation that dropped decided samples by indexing, written out here in float64; their host
reads; and the captured (CUDA graphs) and compiled (inductor) modes against the eager one."""
import copy
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from workloads.tts.compiled import ExitRunner, PlainRunner, check_compile_mode
from workloads.tts import compiled, early_exit, specialization
from workloads.tts.early_exit import NEVER, adaptive_forward, effective_thresholds, exit_head, max_softmax, run_exits
from workloads.tts.specialization import (Specializer, early_head_parameters, head_gradients, head_loss,
                                          learning_scale)


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
    tops = [torch.randn(4, 32, 2, 2, generator=g, dtype=torch.float64) for _ in range(3)]
    with torch.no_grad():
        for p in early_head_parameters(model):  # away from the init (LayerNorm weight 1, bias 0)
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
        # what the exit pass keeps: pooled features, LayerNorm outputs, softmax of the logits
        pooled, normed, logits = zip(*(exit_head(model.cls_blocks[j], t) for j, t in enumerate(tops)))
        probs = [z.softmax(-1) for z in logits]
    for exits in (torch.tensor([3, 1, 0, 2]), torch.tensor([0, 0, 0, 0]), torch.tensor([2, 3, 3, 1])):
        targets = torch.randint(0, 10, (4,), generator=g)
        for count in (1, 2, 3):
            params = early_head_parameters(model, count)
            ref = torch.autograd.grad(head_loss(model, pooled, exits, targets, count), params)
            scale = torch.from_numpy(learning_scale(exits.numpy(), count))
            ours = head_gradients(model, pooled, normed, probs, exits, scale, targets, count, closed_form=True)
            assert len(ours) == len(ref) == 4 * count
            for a, b in zip(ours, ref):
                assert a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-13)


def test_closed_form_head_gradients_at_batch_one_equal_autograd_in_float64(micro_model):
    model = _float64(micro_model)
    g = torch.Generator().manual_seed(6)
    tops = [torch.randn(1, 32, 2, 2, generator=g, dtype=torch.float64) for _ in range(3)]
    with torch.no_grad():
        pooled, normed, logits = zip(*(exit_head(model.cls_blocks[j], t) for j, t in enumerate(tops)))
    probs = [z.softmax(-1) for z in logits]
    exits, targets = torch.tensor([3]), torch.tensor([4])
    ref = torch.autograd.grad(head_loss(model, pooled, exits, targets, 3), early_head_parameters(model, 3))
    assert learning_scale(exits.numpy(), 3) is None  # one sample past every head: all weights 1, nothing copied
    ones = torch.ones(1, 3, 1, dtype=torch.float64)
    for scale in (None, torch.cat([ones, -ones])):  # the batch-1 shortcut and the general path
        ours = head_gradients(model, pooled, normed, probs, exits, scale, targets, 3, closed_form=True)
        for a, b in zip(ours, ref):
            assert a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-13)


def test_exit_head_gives_the_head_modules_logits(micro_model):
    top = torch.rand(3, 32, 2, 2)
    head = micro_model.cls_blocks[1]
    pooled, normed, logits = exit_head(head, top)
    assert torch.equal(logits, head(top)) and torch.equal(pooled, head.pool(top))
    assert torch.equal(normed, head.classifier[0](pooled))


def test_learning_scale_by_hand():
    s = learning_scale(np.array([3, 1, 0, 2]), 3)
    # head 0: samples 0, 1, 3 passed it undecided; head 1: samples 0, 3; head 2: sample 0
    assert np.array_equal(s[0], [[1 / 3, 1 / 3, 0, 1 / 3], [0.5, 0, 0, 0.5], [1, 0, 0, 0]]) and np.array_equal(s[1], -s[0])
    assert np.array_equal(learning_scale(np.array([0, 0]), 1)[0], [[0, 0]])  # nobody passed head 0: no loss
    assert np.array_equal(learning_scale(np.array([1]), 2)[0], [[1], [0]])  # batch 1, head 1 not passed


class HostReads(TorchFunctionMode):
    """Records every tensor operation that copies a value to the host or makes a data-dependent shape."""

    READS = {"__bool__", "item", "tolist", "__float__", "__int__", "__index__", "nonzero", "masked_select", "unique",
             "numpy", "cpu"}

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
    assert mode.reads == ["item"] * 3  # one per early exit (its top score, at batch 1), none at the last
    with HostReads() as mode:
        spec.step(x)  # exit pass + update of all three early heads
    assert mode.reads == ["item"] * 3 and spec.updates == 1


class SlowEvent:
    """A CUDA event stand-in whose copy 'arrives' after ``delay`` queries (or when waited for)."""

    def __init__(self, delay: int, log: list):
        self.left, self.log = delay, log

    def query(self) -> bool:
        self.log.append("query")
        self.left -= 1
        return self.left < 0

    def synchronize(self) -> None:
        self.log.append("wait")
        self.left = -1


@pytest.mark.parametrize("delay", [0, 1, 3, 100])
def test_non_blocking_decisions_give_the_blocking_results_bit_for_bit(micro_model, monkeypatch, delay):
    model = _float64(micro_model)
    g = torch.Generator().manual_seed(7)
    x = torch.rand(6, 3, 32, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        conf = [max_softmax(z) for z in model.forward_exits(x)]
    policies = ([NEVER] * 4, [0.0] * 4, [conf[0].median().item(), conf[1].median().item(), NEVER, 0.0],
                [conf[0].max().item(), conf[1].min().item(), NEVER, 0.0], [NEVER, NEVER, 0.0, NEVER])
    for thr, lookahead in ((p, a) for p in policies for a in (0, 1)):
        thr = effective_thresholds(thr, 4)
        blocking = run_exits(model, x, thr)  # scores on the host at once (CPU): the reference
        log: list[str] = []
        monkeypatch.setattr(early_exit, "host_copy", lambda p, *_: (p.clone(), SlowEvent(delay, log)))
        late = run_exits(model, x, thr, lookahead=lookahead)
        monkeypatch.undo()
        assert torch.equal(late.exits, blocking.exits) and torch.equal(late.logits, blocking.logits)
        assert np.array_equal(late.host_exits, blocking.host_exits) and late.columns_run == blocking.columns_run
        for name in ("head_logits", "pooled", "normed", "probs"):
            a, b = getattr(late, name), getattr(blocking, name)
            assert len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b)), name
        if delay == 0:
            assert "wait" not in log  # the scores had arrived whenever they were asked for


def test_a_late_exit_decision_gives_up_the_next_column_half_way(micro_model, monkeypatch):
    levels = []
    for l, level in enumerate(micro_model.column(1).levels):
        level.register_forward_hook(lambda *_, l=l: levels.append(l))
    log: list[str] = []
    monkeypatch.setattr(early_exit, "host_copy", lambda p, *_: (p.clone(), SlowEvent(2, log)))
    trace = run_exits(micro_model, torch.rand(2, 3, 32, 32), effective_thresholds([0.0] * 4, 4), lookahead=1)
    assert trace.exits.tolist() == [0, 0] and trace.columns_run == 1 and len(trace.head_logits) == 1
    # asked before column 1 and before its level 1 (not arrived), then before level 2 (arrived): given up there
    assert levels == [0, 1] and log == ["query"] * 3


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


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the non-blocking copies need a CUDA device")
def test_non_blocking_decisions_on_cuda_give_the_blocking_results(micro_model):
    model = copy.deepcopy(micro_model).cuda()
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(8)).cuda()
    with torch.no_grad():
        conf = [max_softmax(z) for z in model.forward_exits(x)]
    for thr in ([NEVER] * 4, [0.0] * 4, [conf[0].median().item(), conf[1].median().item(), NEVER, 0.0]):
        thr = effective_thresholds(thr, 4)
        a, b = run_exits(model, x, thr, lookahead=0), run_exits(model, x, thr, lookahead=1)
        assert torch.equal(a.exits, b.exits) and torch.equal(a.logits, b.logits) and a.columns_run == b.columns_run


class ReplayedGraph:
    """A CUDA graph stand-in for the CPU: ``replay`` reruns the captured function on the static inputs it was
    bound to and writes its results into the static outputs of the capture, which is what a replay does."""

    def __init__(self, fn, out):
        self.fn, self.out = fn, out

    def replay(self):
        copy_into(self.out, self.fn())


def copy_into(static, new):
    if isinstance(static, torch.Tensor):
        static.copy_(new)
    elif isinstance(static, (list, tuple)):
        for a, b in zip(static, new, strict=True):
            copy_into(a, b)


def replayed_capture(fn, restore=()):
    """``compiled._capture`` without CUDA: one run gives the static outputs (then ``restore`` is put back, as the
    real capture's warm-up runs are)."""
    saved = [t.detach().clone() for t in restore]
    out = fn()
    with torch.no_grad():
        for t, s in zip(restore, saved):
            t.copy_(s)
    return ReplayedGraph(fn, out), out


@pytest.fixture
def graphs_on_cpu(monkeypatch):
    """``compile: graph`` on the CPU through ``ReplayedGraph``: the decision steps chained through static tensors,
    the flag reads and the captured update run as on CUDA; the update's closed-form gradients (CUDA's default)."""
    monkeypatch.setattr(compiled, "_capture", replayed_capture)
    monkeypatch.setattr(compiled, "check_compile_mode", lambda *_: None)
    monkeypatch.setattr(specialization, "head_gradients", partial(head_gradients, closed_form=True))


def _assert_same_trace(a, b):
    assert torch.equal(a.exits, b.exits) and np.array_equal(a.host_exits, b.host_exits)
    assert torch.equal(a.logits, b.logits) and a.columns_run == b.columns_run
    for name in ("head_logits", "pooled", "normed", "probs"):
        u, v = getattr(a, name), getattr(b, name)
        assert len(u) == len(v) and all(torch.equal(p, q) for p, q in zip(u, v)), name


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_decisions_inside_the_captured_columns_equal_the_host_decisions_and_the_reference(micro_model, dtype,
                                                                                         graphs_on_cpu):
    model = copy.deepcopy(micro_model).to(dtype).eval()
    g = torch.Generator().manual_seed(9)
    batches = [torch.rand(b, 3, 32, 32, generator=g, dtype=dtype) for b in (1, 1, 1, 6, 6)]
    with torch.no_grad():
        conf = [max_softmax(z) for z in model.forward_exits(torch.cat(batches))]
    # a tie and a threshold 1e-12 above a score (in float32 it rounds onto it: fires on host and device alike)
    tie, above = conf[0][0].item(), conf[1][3].item() + 1e-12
    # the first four stop every sample at columns 4, 1, 3 and 2 whatever the weights (torch versions initialise
    # them differently, so the data-driven policies alone may miss a stopping column)
    policies = ([NEVER] * 4, [0.0] * 4, [NEVER, NEVER, 0.0, NEVER], [NEVER, 0.0, NEVER, NEVER], [tie, above, NEVER, 0.0],
                [conf[0].median().item(), conf[1].median().item(), conf[2].median().item(), 0.0])
    seen = set()
    for thr in policies:
        graph, eager = ExitRunner(model, thr, compile="graph"), ExitRunner(model, thr)
        for x in batches + batches[:1]:  # replays of every captured shape, with other images
            ours, host = graph(x), eager(x)
            _assert_same_trace(ours, host)
            with torch.no_grad():
                ref_logits, ref_exits = indexing_step(model, x, torch.tensor(thr, dtype=torch.float64))
            assert torch.equal(ours.exits, ref_exits)  # the reference's sub-batches round differently:
            assert torch.allclose(ours.logits, ref_logits, rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-6)
            assert ours.columns_run == 1 + int(ref_exits.max())
            seen.add((x.shape[0], ours.columns_run))
    assert {(1, c) for c in (1, 2, 3, 4)} <= seen and {(6, 1), (6, 4)} <= seen  # every stopping column was covered


@pytest.mark.parametrize("batch", [1, 4])
def test_captured_specialization_equals_the_eager_one_over_several_steps(micro_model, batch, graphs_on_cpu):
    eager, graph = _float64(micro_model), _float64(micro_model)
    g = torch.Generator().manual_seed(10)
    stream = [torch.rand(batch, 3, 32, 32, generator=g, dtype=torch.float64) for _ in range(8)]
    with torch.no_grad():  # exit 0 takes about a fifth of the images at first: most passes update (a median did not
        c = max_softmax(eager.forward_exits(torch.cat(stream))[0]).quantile(0.8).item()  # on torch 2.11's weights)
    thr = torch.tensor([c, c * 1.05, NEVER, 0.0], dtype=torch.float64)
    a = Specializer(eager, thr, lr=0.01, momentum=0.9)  # slow enough that exit 0 does not take every image at once
    b = Specializer(graph, thr, lr=0.01, momentum=0.9, compile="graph")
    for x in stream:
        ta, tb = a.step(x), b.step(x)
        assert np.array_equal(ta.host_exits, tb.host_exits) and ta.columns_run == tb.columns_run
        assert torch.allclose(ta.logits, tb.logits, rtol=0, atol=1e-12)
        for p, q in zip(eager.parameters(), graph.parameters()):
            assert torch.allclose(p, q, rtol=0, atol=1e-12)
    assert a.updates == b.updates >= 3  # updates of 1 and 3 heads (captured apart), batch 1 and 4


def test_captured_columns_read_one_flag_per_exit_passed(micro_model, graphs_on_cpu):
    x = torch.rand(1, 3, 32, 32)
    never = ExitRunner(micro_model, torch.full((4,), NEVER), compile="graph")
    first = ExitRunner(micro_model, torch.zeros(4), compile="graph")
    spec = Specializer(micro_model, torch.full((4,), NEVER), lr=0.1, compile="graph")
    for fn in (never, first, spec.step):
        fn(x)  # capture first
    for fn, reads in ((never, 3), (first, 1), (spec.step, 3)):
        with HostReads() as mode:
            trace = fn(x)
            host = trace.host_exits  # batch 1: known from the columns that ran, no read
        assert mode.reads == ["__bool__"] * reads and host.tolist() == [reads if reads == 3 else 0]


def test_columns_replayed_ahead_give_the_same_traces_and_updates(micro_model, graphs_on_cpu):
    model, ahead_model = _float64(micro_model), _float64(micro_model)
    g = torch.Generator().manual_seed(11)
    batches = [torch.rand(b, 3, 32, 32, generator=g, dtype=torch.float64) for b in (1, 1, 1, 5)]
    with torch.no_grad():
        conf = [max_softmax(z) for z in model.forward_exits(torch.cat(batches))]
    policies = ([NEVER] * 4, [0.0] * 4, [NEVER, 0.0, NEVER, NEVER], [NEVER, NEVER, 0.0, NEVER],
                [conf[0].median().item(), conf[1].median().item(), conf[2].median().item(), 0.0])
    seen = set()
    for thr in policies:
        plain, ahead = ExitRunner(model, thr, compile="graph"), ExitRunner(model, thr, compile="graph", lookahead=1)
        replays: list[int] = []
        for x in batches:
            a = plain(x)
            fresh = (tuple(x.shape), x.dtype) not in ahead._graphs
            b = ahead(x)  # a new shape: captured, then run
            if fresh:  # count the replays of this shape's columns from now on
                for k, graph in enumerate(ahead._graphs[(tuple(x.shape), x.dtype)].graphs):
                    graph.replay = partial(lambda k, f: (replays.append(k), f())[1], k, graph.replay)
            replays.clear()
            b = ahead(x)
            _assert_same_trace(a, b)
            assert replays == list(range(min(a.columns_run + 1, 4)))  # those that count, and one after them
            seen.add(a.columns_run)
    assert seen == {1, 2, 3, 4}
    thr = torch.tensor([conf[0].median().item(), NEVER, NEVER, 0.0], dtype=torch.float64)
    s, t = Specializer(model, thr, lr=0.5, compile="graph"), Specializer(ahead_model, thr, lr=0.5, compile="graph")
    t.runner.lookahead = 1
    for x in batches[:3] * 2:
        u, v = s.step(x), t.step(x)
        assert np.array_equal(u.host_exits, v.host_exits) and torch.equal(u.logits, v.logits)
    assert s.updates == t.updates > 0
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), ahead_model.parameters()))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_columns_replayed_ahead_on_cuda_give_the_eager_results(micro_model):
    model = copy.deepcopy(micro_model).cuda().eval()
    g = torch.Generator().manual_seed(12)
    xs = [torch.rand(b, 3, 32, 32, generator=g).cuda() for b in (1, 1, 6)]
    with torch.no_grad():
        conf = [max_softmax(z) for z in model.forward_exits(torch.cat(xs))]
    for thr in ([NEVER] * 4, [0.0] * 4, [conf[0].median().item(), conf[1].median().item(), NEVER, 0.0]):
        eager, ahead = ExitRunner(model, thr), ExitRunner(model, thr, compile="graph", lookahead=1)
        for x in xs + xs:
            a, b = eager(x), ahead(x)
            assert torch.equal(a.exits, b.exits) and a.columns_run == b.columns_run
            assert torch.allclose(a.logits, b.logits, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="zero-copy scores need a CUDA device")
def test_scores_written_into_host_memory_equal_the_device_softmax(micro_model):
    model = copy.deepcopy(micro_model).cuda().eval()
    staging = early_exit.HostStaging()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(13)).cuda()
    trace = run_exits(model, x, effective_thresholds([NEVER] * 4, 4), staging=staging)
    assert len(staging.mapped_pairs) == 3 and all(v is not None for _, v in staging.mapped_pairs.values())
    for j, p in enumerate(trace.probs):
        host, view = staging.mapped_pairs[("probs", j)]
        assert p.data_ptr() == view.data_ptr() == host.data_ptr() and p.is_cuda
        assert torch.equal(host, trace.head_logits[j].softmax(-1).cpu())
