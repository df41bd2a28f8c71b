"""Property tests (hypothesis) for broadcasting: result shapes follow NumPy/PyTorch's rule, and the
gradient of each input has that input's shape and equals PyTorch's (summed over broadcast dims)."""
import numpy as np
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import ember

BINARY_OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
              "div": lambda a, b: a / (b * b + 1), "maximum": lambda a, b: a.maximum(b)}

shape_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


@settings(max_examples=40, deadline=None)
@given(shapes=shape_pairs, op=st.sampled_from(sorted(BINARY_OPS)), seed=st.integers(0, 2 ** 16))
def test_binary_broadcast_shape_and_gradients(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(s) for s in shapes.input_shapes)
    fn = BINARY_OPS[op]
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    e_out, t_out = fn(ea, eb), fn(ta, tb)
    assert tuple(e_out.shape) == shapes.result_shape == np.broadcast_shapes(a.shape, b.shape)
    seed_grad = rng.standard_normal(shapes.result_shape)
    e_out.backward(ember.tensor(seed_grad))
    t_out.backward(torch.tensor(seed_grad))
    for e, t in ((ea, ta), (eb, tb)):
        assert e.grad.shape == e.shape
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(shapes=shape_pairs)
def test_expand_then_sum_to_size_round_trip(shapes):
    source, _ = shapes.input_shapes
    x = ember.randn(*source, dtype=ember.float64, requires_grad=True)
    y = x.expand(shapes.result_shape)
    assert tuple(y.shape) == shapes.result_shape
    y.backward(ember.ones(*shapes.result_shape, dtype=ember.float64))
    copies = int(np.prod(shapes.result_shape)) // int(np.prod(source))  # each element's copies
    np.testing.assert_array_equal(x.grad.numpy(), np.full(source, float(copies)))
