"""ember.autograd.trace: one step per node, in the engine's reverse topological order, with the
shapes and norms of the gradients it received and sent (checked against PyTorch's own gradients)."""
import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.engine import autograd as engine
from test_autograd import TwoGrads  # a backward that returns one gradient too many

A = np.random.default_rng(0).standard_normal((4, 3))
B = np.random.default_rng(1).standard_normal(3)


def nodes_newest_first(output):
    """Every node behind ``output``, walked independently of the engine, newest first."""
    seen, stack = set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(e for e in node.next_edges if isinstance(e, ember.Function))
    return sorted(seen, key=lambda n: n.sequence_number, reverse=True)


def test_steps_follow_the_ops_in_reverse_topological_order_with_their_shapes():
    a = ember.tensor(A, requires_grad=True)
    b = ember.tensor(B, requires_grad=True)
    y = (a * b + 1).tanh().sum()
    expected = nodes_newest_first(y)
    with ember.autograd.trace(params={"a": a, "b": b}) as t:
        y.backward()
    assert [s.op for s in t.steps] == [n.name() for n in expected] == \
        ["SumBackward", "TanhBackward", "AddBackward", "MulBackward"]
    assert [s.sequence_number for s in t.steps] == [n.sequence_number for n in expected]
    assert [s.index for s in t.steps] == [0, 1, 2, 3]
    assert [s.grad_output_shape for s in t.steps] == [(), (4, 3), (4, 3), (4, 3)]
    mul = t.steps[3]
    assert [(s.to, s.returned_shape, s.shape) for s in mul.sent] == [("a", (4, 3), (4, 3)),
                                                                     ("b", (4, 3), (3,))]
    assert [(s.to, s.position) for s in t.steps[2].sent] == [("MulBackward", 0)]  # the 1 needs none
    assert all(s.seconds >= 0 for s in t.steps) and t.total_seconds == sum(s.seconds for s in t.steps)


def test_gradient_norms_match_torch():
    a = ember.tensor(A, requires_grad=True)
    b = ember.tensor(B, requires_grad=True)
    with ember.autograd.trace() as t:
        (a * b + 1).tanh().sum().backward()
    ta, tb = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    product = ta * tb
    shifted = product + 1
    squashed = shifted.tanh()
    for tensor in (product, shifted, squashed):
        tensor.retain_grad()
    squashed.sum().backward()
    norms = [s.grad_output_norm for s in t.steps]
    want = [1.0] + [float(x.grad.norm()) for x in (squashed, shifted, product)]
    np.testing.assert_allclose(norms, want, rtol=1e-12)
    np.testing.assert_allclose([s.norm for s in t.steps[3].sent],  # b's: after broadcasting's sum
                               [float(ta.grad.norm()), float(tb.grad.norm())], rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())


def test_trace_is_off_outside_the_context_and_nests():
    x = ember.randn(3, requires_grad=True)
    with ember.autograd.trace() as outer:
        with ember.autograd.trace() as inner:
            (x * 2).sum().backward()
        (x * 3).sum().backward()
    assert engine._tracer is None
    (x.exp()).sum().backward()
    assert [s.op for s in inner.steps] == ["SumBackward", "MulBackward"]
    assert [s.op for s in outer.steps] == ["SumBackward", "MulBackward"]


def test_traced_backward_gives_the_same_gradients_including_second_order():
    x = ember.tensor(B, requires_grad=True)
    (g_plain,) = ember.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (gg_plain,) = ember.autograd.grad(g_plain.sum(), x)
    with ember.autograd.trace() as t:
        (g,) = ember.autograd.grad((x ** 3).sum(), x, create_graph=True)
        (gg,) = ember.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(g.detach().numpy(), g_plain.detach().numpy())
    np.testing.assert_array_equal(gg.numpy(), gg_plain.numpy())
    assert g.requires_grad and t.steps[0].op == "SumBackward"
    assert len(t.steps) > 2  # the second backward runs through the recorded first one


def test_errors_in_a_backward_still_surface():
    x = ember.randn(3, requires_grad=True)
    with ember.autograd.trace(), pytest.raises(RuntimeError, match="returned 2 gradients, expected 1"):
        TwoGrads.apply(x).sum().backward()
    assert engine._tracer is None


def test_table_html_and_plot(tmp_path):
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    loss = model(ember.randn(5, 3)).sum()
    with ember.autograd.trace(params=dict(model.named_parameters())) as t:
        loss.backward()
    table = t.table()
    lines = str(table).splitlines()
    assert lines[0].startswith(f"backward: {len(t.steps)} steps")
    assert lines[1].split()[:4] == ["step", "op", "grad_output", "|grad_output|"]
    assert repr(table) == str(table)
    for step in t.steps:
        assert step.op in table
    assert "0.weight" in table and "(4, 3)" in table and "2.bias" in table
    assert "<table>" in t.to_html() and "ReluBackward" in t._repr_html_()
    figure = t.plot(tmp_path / "trace.png")
    assert len(figure.axes) == 2 and (tmp_path / "trace.png").stat().st_size > 0


def test_broadcast_shows_in_the_table():
    a, b = ember.randn(4, 3, requires_grad=True), ember.randn(3, requires_grad=True)
    with ember.autograd.trace() as t:
        (a + b).sum().backward()
    assert "(4, 3)->(3,)" in t.table()
