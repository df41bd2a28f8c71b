"""The autograd core against PyTorch: backward, grad, higher-order gradients, hooks, grad modes,
in-place ops and version counters, anomaly mode, gradcheck and user-defined Functions."""
import os

import numpy as np
import pytest
import torch

import ember
from ember.autograd import Function


def pair(values, requires_grad=True, dtype=np.float64):
    """The same data as an ember and a torch tensor."""
    array = np.asarray(values, dtype=dtype)
    return (ember.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


def assert_close(actual, expected, rtol=1e-7, atol=1e-9):
    actual = actual.detach().numpy() if isinstance(actual, ember.Tensor) else np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != torch's {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


RNG = np.random.default_rng(0)
X = RNG.uniform(0.5, 2.0, (3, 4))
Y = RNG.uniform(-1.0, 1.0, (3, 4))
V = RNG.standard_normal((3, 4))


# ---- backward ----------------------------------------------------------------------------------

def test_backward_scalar_matches_torch():
    (ex, tx), (ey, ty) = pair(X), pair(Y)
    for x, y in ((ex, ey), (tx, ty)):
        ((x * x * y + x.exp() / (y * y + 1)).sum()).backward()
    assert_close(ex.grad, tx.grad)
    assert_close(ey.grad, ty.grad)


def test_backward_with_gradient_matches_torch():
    (ex, tx), (ev, tv) = pair(X), pair(V, requires_grad=False)
    (ex.sin() * ex).backward(ev)
    (tx.sin() * tx).backward(tv)
    assert_close(ex.grad, tx.grad)


def test_backward_of_non_scalar_without_gradient_raises():
    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_backward_gradient_of_wrong_shape_raises():
    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(ember.ones(4, 3, dtype=ember.float64))


def test_backward_of_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        ember.ones(2).sum().backward()


def test_functional_backward_of_several_tensors_matches_torch():
    results = []
    for lib, x, (v, w) in ((ember, pair(X)[0], (pair(V, False)[0], pair(Y, False)[0])),
                           (torch, pair(X)[1], (pair(V, False)[1], pair(Y, False)[1]))):
        lib.autograd.backward([x.exp(), x * x], [v, w])
        results.append(x.grad)
    assert_close(*results)


def test_backward_of_a_leaf_itself():
    (ex, tx), (ev, tv) = pair(X), pair(V, requires_grad=False)
    ex.backward(ev)
    tx.backward(tv)
    assert_close(ex.grad, tx.grad)


def test_gradient_argument_is_not_aliased_by_grad():
    # The caller's gradient tensor must not become .grad, or later accumulation would change it.
    x = ember.tensor(X, requires_grad=True)
    y = ember.tensor(Y, requires_grad=True)
    v = ember.tensor(V)
    x.backward(v)
    (x + y).backward(v)
    (x + y).backward(v)
    np.testing.assert_array_equal(v.numpy(), V)
    np.testing.assert_allclose(x.grad.numpy(), 3 * V)
    np.testing.assert_allclose(y.grad.numpy(), 2 * V)


def test_leaves_sharing_one_gradient_accumulate_separately():
    # add's backward hands one gradient tensor to both inputs: each leaf must get its own copy,
    # with and without create_graph.
    ex, ez = ember.tensor(X, requires_grad=True), ember.tensor(Y, requires_grad=True)
    (ex + ez).sum().backward(create_graph=True)
    (ex + ez).sum().backward()
    (ex + ez).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), np.full(X.shape, 3.0))
    np.testing.assert_allclose(ez.grad.numpy(), np.full(X.shape, 3.0))


def test_backward_inputs_limits_accumulation():
    results = []
    for x, y in zip(pair(X), pair(Y)):
        h = x * 3
        (h * h * y).sum().backward(inputs=[h, y])   # a non-leaf input gets its .grad too
        assert x.grad is None
        results.append((h.grad, y.grad))
    for e, t in zip(*results):
        assert_close(e, t)


def test_backward_inputs_accumulate_into_leaf():
    (ex, tx), (ey, ty) = pair(X), pair(Y)
    for x, y in ((ex, ey), (tx, ty)):
        (x * y).sum().backward(inputs=[x])
        (x * y).sum().backward(inputs=[x])
        assert y.grad is None
    assert_close(ex.grad, tx.grad)


def test_accumulation_across_backward_calls():
    (ex, tx), = [pair(X)]
    for x in (ex, tx):
        (x * x).sum().backward()
        x.exp().sum().backward()
        (x * 3).sum().backward()
    assert_close(ex.grad, tx.grad)
    ex.grad = None
    (ex * 3).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), np.full(X.shape, 3.0))


def test_same_tensor_used_several_times():
    (ex, tx), = [pair(X)]
    for x in (ex, tx):
        y = x.exp()
        z = y * y + x * x + x + y / x      # x and y each reach the output along several paths
        z.sum().backward()
    assert_close(ex.grad, tx.grad)


def test_diamond_graph():
    (ex, tx), = [pair(X)]
    for x in (ex, tx):
        a = x.sin()
        b, c = a * 2, a.exp()
        ((b * c).tanh() + b).sum().backward()
    assert_close(ex.grad, tx.grad)


def test_broadcasting_gradients_are_summed():
    (ex, tx), (eb, tb) = pair(X), pair(Y[0])
    for x, b in ((ex, eb), (tx, tb)):
        (x * b + b).sum().backward()
    assert_close(eb.grad, tb.grad)
    assert_close(ex.grad, tx.grad)


def test_dtype_of_gradient_follows_the_leaf():
    x = ember.tensor(X, dtype=ember.float32, requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == ember.float32
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


# ---- retain_graph ------------------------------------------------------------------------------

def test_second_backward_without_retain_graph_raises():
    x = ember.tensor(X, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward_and_accumulates():
    (ex, tx), = [pair(X)]
    for x in (ex, tx):
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward()
    assert_close(ex.grad, tx.grad)
    np.testing.assert_allclose(ex.grad.numpy(), 2 * (np.exp(X) * (X + 1)))


# ---- create_graph and higher-order gradients ---------------------------------------------------

COMPOSITIONS = {
    "sin*exp": lambda x: x.sin() * x.exp(),
    "tanh(x^2)": lambda x: (x * x).tanh(),
    "sigmoid/(1+x^2)": lambda x: x.sigmoid() / (1 + x * x),
    "log(exp+1)": lambda x: (x.exp() + 1).log(),
    "x^3-2x": lambda x: x ** 3 - 2 * x,
    "sqrt*cos": lambda x: x.sqrt() * x.cos(),
    "1/x+log": lambda x: x.reciprocal() + x.log(),
    "x^x": lambda x: x ** x,
}


@pytest.mark.parametrize("name", list(COMPOSITIONS))
def test_second_and_third_derivatives_match_torch(name):
    f = COMPOSITIONS[name]
    grads = []
    for lib, x in zip((ember, torch), pair(X)):
        first, = lib.autograd.grad(f(x).sum(), x, create_graph=True)
        second, = lib.autograd.grad(first.sum(), x, create_graph=True)
        third, = lib.autograd.grad(second.sum(), x)
        grads.append((first, second, third))
    for e, t in zip(*grads):
        assert_close(e, t, rtol=1e-6)


def test_mixed_partial_derivatives_match_torch():
    results = []
    for lib, (x, y) in ((ember, (pair(X)[0], pair(Y)[0])), (torch, (pair(X)[1], pair(Y)[1]))):
        f = (x * y).sin() + x * x * y.exp()
        dx, = lib.autograd.grad(f.sum(), x, create_graph=True)
        dxy, = lib.autograd.grad(dx.sum(), y)
        results.append(dxy)
    assert_close(*results)


def test_hessian_vector_product_matches_torch():
    def f(x):
        return (x.sin() * x.exp()).sum() + (x * x).sum() * (x * x).sum()

    ex, tx = pair(X)
    ev, tv = pair(V, requires_grad=False)
    g, = ember.autograd.grad(f(ex), ex, create_graph=True)
    hvp, = ember.autograd.grad((g * ev).sum(), ex)
    _, expected = torch.autograd.functional.hvp(f, tx.detach(), tv)
    assert_close(hvp, expected)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_backward_create_graph_makes_grad_differentiable():
    (ex, tx), = [pair(X)]
    for x in (ex, tx):
        (x ** 3).sum().backward(create_graph=True)
        assert x.grad.requires_grad
        first = x.grad
        x.grad = None
        first.sum().backward()         # d/dx sum(3x^2) = 6x
    assert_close(ex.grad, tx.grad)
    np.testing.assert_allclose(ex.grad.numpy(), 6 * X)


def test_without_create_graph_gradients_are_constants():
    x = ember.tensor(X, requires_grad=True)
    g, = ember.autograd.grad((x ** 3).sum(), x)
    assert not g.requires_grad and g.grad_fn is None


# ---- ember.autograd.grad -----------------------------------------------------------------------

def test_grad_lists_and_grad_outputs_match_torch():
    results = []
    for lib, (x, y), (v, w) in ((ember, (pair(X)[0], pair(Y)[0]), (pair(V, False)[0], pair(X, False)[0])),
                                (torch, (pair(X)[1], pair(Y)[1]), (pair(V, False)[1], pair(X, False)[1]))):
        a, b = x * y, x.exp() + y
        results.append(lib.autograd.grad([a, b], [x, y], grad_outputs=[v, w]))
    assert isinstance(results[0], tuple) and len(results[0]) == 2
    for e, t in zip(*results):
        assert_close(e, t)


def test_grad_with_respect_to_non_leaf():
    results = []
    for lib, x in zip((ember, torch), pair(X)):
        h = x.sin()
        z = (h * h * x).sum()
        results.append(lib.autograd.grad(z, [h, x]))
    for e, t in zip(*results):
        assert_close(e, t)


def test_grad_does_not_touch_dot_grad():
    x = ember.tensor(X, requires_grad=True)
    ember.autograd.grad((x * x).sum(), x)
    assert x.grad is None
    x.grad = ember.ones(3, 4, dtype=ember.float64)
    ember.autograd.grad((x * x).sum(), x)
    np.testing.assert_array_equal(x.grad.numpy(), 1.0)


def test_grad_unused_input_raises_without_allow_unused():
    x, y = ember.tensor(X, requires_grad=True), ember.tensor(Y, requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        ember.autograd.grad((x * 2).sum(), [x, y])


def test_grad_allow_unused_and_materialize_grads():
    x, y = ember.tensor(X, requires_grad=True), ember.tensor(Y, requires_grad=True)
    gx, gy = ember.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)
    assert gy is None
    np.testing.assert_array_equal(gx.numpy(), 2.0)
    gx, gy = ember.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True)
    np.testing.assert_array_equal(gy.numpy(), np.zeros(Y.shape))
    with pytest.raises(ValueError, match="allow_unused"):
        ember.autograd.grad((x * 2).sum(), [x, y], allow_unused=False, materialize_grads=True)


def test_grad_of_input_not_requiring_grad_raises():
    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.autograd.grad((x * 2).sum(), ember.tensor(Y))


def test_grad_runs_only_the_part_of_the_graph_it_needs():
    # As in PyTorch: the branch that does not lead to x is neither run (its hooks stay silent)
    # nor freed (a later backward through it works).
    x, w = ember.tensor(X, requires_grad=True), ember.tensor(Y, requires_grad=True)
    calls = []
    w.register_hook(lambda g: calls.append("w"))
    a = w.exp()
    z = (x * 2).sum() + a.sum()
    gx, = ember.autograd.grad(z, x)
    np.testing.assert_array_equal(gx.numpy(), 2.0)
    assert calls == []
    a.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.exp(Y))
    assert calls == ["w"]


# ---- retain_grad and hooks ---------------------------------------------------------------------

def test_retain_grad_on_non_leaf_matches_torch():
    results = []
    for x in pair(X):
        h = x.exp()
        h.retain_grad()
        assert h.retains_grad
        (h * h * x).sum().backward()
        results.append(h.grad)
    assert_close(*results)


def test_non_leaf_without_retain_grad_has_no_grad():
    x = ember.tensor(X, requires_grad=True)
    h = x.exp()
    h.sum().backward()
    assert h.grad is None and not h.retains_grad


def test_retained_grad_is_a_copy():
    x = ember.tensor(X, requires_grad=True)
    y = x + 0
    y.retain_grad()
    (y * 3).sum().backward()
    (x * 1).sum().backward()    # accumulates into x.grad in place
    np.testing.assert_array_equal(y.grad.numpy(), 3.0)
    np.testing.assert_array_equal(x.grad.numpy(), 4.0)


def test_retain_grad_follows_in_place_modification():
    results = []
    for x in pair(X):
        y = x * 2
        y.retain_grad()
        y.mul_(3)
        (y * y).sum().backward()
        results.append((y.grad, x.grad))
    for e, t in zip(*results):
        assert_close(e, t)


def test_hook_on_leaf_modifies_gradient():
    results = []
    for x in pair(X):
        handle = x.register_hook(lambda g: g * 2)
        (x * x).sum().backward()
        handle.remove()
        (x * x).sum().backward()
        results.append(x.grad)
    assert_close(*results)


def test_hook_on_non_leaf_modifies_gradient_upstream():
    results = []
    for x in pair(X):
        h = x.sin()
        h.register_hook(lambda g: g * 3 + 1)
        (h * x).sum().backward()
        results.append(x.grad)
    assert_close(*results)


def test_observing_hook_sees_the_gradient_and_can_be_removed():
    x = ember.tensor(X, requires_grad=True)
    seen = []
    h = x * 5
    handle = h.register_hook(lambda g: seen.append(g.numpy().copy()))
    (h * 2).sum().backward(retain_graph=True)
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], np.full(X.shape, 2.0))
    handle.remove()
    (h * 2).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(x.grad.numpy(), 20.0)


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        ember.ones(2).register_hook(lambda g: g)


def test_post_accumulate_grad_hook():
    x = ember.tensor(X, requires_grad=True)
    seen = []

    def hook(tensor):
        assert tensor is x
        seen.append(tensor.grad.numpy().copy())

    handle = x.register_post_accumulate_grad_hook(hook)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], 2.0)
    np.testing.assert_array_equal(seen[1], 5.0)
    handle.remove()
    (x * 3).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(hook)


# ---- grad modes --------------------------------------------------------------------------------

def test_no_grad_context_and_nesting():
    x = ember.tensor(X, requires_grad=True)
    assert ember.is_grad_enabled()
    with ember.no_grad():
        assert not ember.is_grad_enabled()
        y = x * 2
        with ember.enable_grad():
            assert ember.is_grad_enabled()
            z = x * 2
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad and z.grad_fn is not None


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ValueError):
        with ember.no_grad():
            raise ValueError
    assert ember.is_grad_enabled()


def test_grad_mode_decorators():
    x = ember.tensor(X, requires_grad=True)

    @ember.no_grad()
    def f():
        return x * 2

    @ember.no_grad
    def g():
        return x * 2

    @ember.set_grad_enabled(False)
    def h():
        return x * 2

    assert ember.is_grad_enabled()  # decorating changed nothing
    assert not f().requires_grad and not g().requires_grad and not h().requires_grad
    assert ember.is_grad_enabled()
    assert f.__name__ == "f"

    with ember.no_grad():
        @ember.enable_grad()
        def k():
            return x * 2
        assert k().requires_grad
        assert not ember.is_grad_enabled()


def test_set_grad_enabled_as_function_and_context():
    x = ember.tensor(X, requires_grad=True)
    try:
        ember.set_grad_enabled(False)
        assert not (x * 2).requires_grad
    finally:
        ember.set_grad_enabled(True)
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with ember.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()


# ---- leaves, detach, requires_grad, graph inspection -------------------------------------------

def test_detach_shares_memory_and_version_but_not_the_graph():
    x = ember.tensor(X, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.numpy(), y.detach().numpy())
    d.add_(1)                               # visible through y, and bumps the shared version
    np.testing.assert_allclose(y.detach().numpy(), 2 * X + 1)
    assert y._version_number == 1
    (d * x).sum().backward()                # no gradient flows through d
    np.testing.assert_allclose(x.grad.numpy(), 2 * X + 1)


def test_in_place_with_autograd_on_a_detached_tensor():
    # detach() returns a new leaf, not a view: an in-place op may record on it (as in PyTorch).
    results = []
    for lib, (x, w) in ((ember, (pair(X)[0], pair(Y)[0])), (torch, (pair(X)[1], pair(Y)[1]))):
        d = x.detach()
        d.mul_(w)
        d.sum().backward()
        results.append(w.grad)
    assert_close(*results)


def test_requires_grad_on_integer_tensor_raises():
    with pytest.raises(RuntimeError, match="floating point"):
        ember.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        ember.tensor([1, 2], requires_grad=True)


def test_requires_grad_false_on_non_leaf_raises():
    y = ember.tensor(X, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        y.requires_grad = False
    y.requires_grad_(True)  # a no-op, as in PyTorch


def test_is_leaf_grad_fn_and_next_functions():
    x, w = ember.tensor(X, requires_grad=True), ember.tensor(Y, requires_grad=True)
    c = ember.tensor(V)
    assert x.is_leaf and x.grad_fn is None and c.is_leaf
    m = x * c
    z = m + w.exp()
    assert not z.is_leaf
    assert z.grad_fn.name() == "AddBackward" and m.grad_fn.name() == "MulBackward"
    assert "MulBackward" in repr(m.grad_fn)
    (first, _), (second, _) = z.grad_fn.next_functions
    assert first is m.grad_fn and second.name() == "ExpBackward"
    (leaf, _), (constant, _) = m.grad_fn.next_functions
    assert leaf.name() == "AccumulateGrad" and leaf.variable is x
    assert constant is None
    with ember.no_grad():
        assert (x * 2).is_leaf


def test_non_floating_results_do_not_require_grad():
    x = ember.tensor(X, requires_grad=True)
    for result in (x.long(), x.int(), x.bool(), x > 0, (x * 2).long()):
        assert not result.requires_grad and result.grad_fn is None, result.dtype


# ---- in-place ops and version counters ---------------------------------------------------------

def test_modifying_a_saved_output_makes_backward_raise():
    x = ember.tensor(X, requires_grad=True)
    y = x.exp()            # exp saves its output
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*version 1; expected "
                                           "version 0"):
        y.sum().backward()


def test_modifying_a_saved_input_makes_backward_raise():
    x = ember.tensor(X, requires_grad=True)
    y = x * 2
    z = y * y              # saves y
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_modifying_a_leaf_saved_for_backward_under_no_grad_raises():
    x = ember.tensor(X, requires_grad=True)
    z = (x * x).sum()
    with ember.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


def test_in_place_on_leaf_requiring_grad_raises():
    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an "
                                           "in-place operation"):
        x.add_(1)


def test_in_place_chain_on_non_leaf_matches_torch():
    results = []
    for lib, (x, w) in ((ember, (pair(X)[0], pair(Y)[0])), (torch, (pair(X)[1], pair(Y)[1]))):
        y = x * 2
        y.mul_(3)
        y.add_(w)
        y.sub_(x)
        y.div_(2)
        y.mul_(w)
        y.exp_()
        (y * x).sum().backward()
        results.append((y, x.grad, w.grad))
    for e, t in zip(*results):
        assert_close(e, t)


def test_in_place_on_a_tensor_not_requiring_grad_records():
    results = []
    for x in pair(X):
        a = x.detach() * 0 + 1      # no grad
        a.mul_(x)                   # now a function of x
        a.add_(x * x)
        assert a.requires_grad and not a.is_leaf
        a.sum().backward()
        results.append(x.grad)
    assert_close(*results)


def test_in_place_constant_overwrite_gives_zero_gradient():
    results = []
    for lib, x in zip((ember, torch), pair(X)):
        y, z, a = x * 2, x * 3, x * 4
        y.fill_(1.5)
        z.zero_()
        a.copy_(lib.ones(3, 4, dtype=lib.float64))
        assert y.requires_grad and y.grad_fn is not None
        (y * x + z * x + a).sum().backward()
        results.append(x.grad)
    assert_close(*results)


def test_hooks_before_and_after_in_place_see_old_and_new_value():
    seen = {}
    for lib, x in zip((ember, torch), pair(X)):
        y = x * 2
        y.register_hook(lambda g, lib=lib: seen.setdefault((lib, "before"), g))
        y.mul_(3)
        y.register_hook(lambda g, lib=lib: seen.setdefault((lib, "after"), g))
        (y * y).sum().backward()
    for when in ("before", "after"):
        assert_close(seen[ember, when], seen[torch, when])


def test_in_place_under_no_grad_on_leaf():
    x = ember.tensor(X, requires_grad=True)
    version = x._version_number
    with ember.no_grad():
        x.mul_(2)
        x -= 1
    assert x._version_number == version + 2
    assert x.is_leaf and x.requires_grad
    np.testing.assert_allclose(x.detach().numpy(), 2 * X - 1)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (2 * X - 1))


def test_version_counter_shared_by_views():
    base = ember.tensor(X)
    view = base.reshape(12)
    assert base._version_number == view._version_number == 0
    view.add_(1)
    assert base._version_number == 1
    base.mul_(2)
    assert view._version_number == 2


def test_long_chain_backpropagates_without_recursion():
    n = 100_000
    x = ember.tensor([1.0], dtype=ember.float64, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** n], rtol=1e-9)
    y = x
    for _ in range(n):
        y = y + 0
    y.sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** n + 1], rtol=1e-9)
    del y  # freeing the retained 100,000-node graph must not recurse either


# ---- anomaly mode ------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_anomaly_forward_names_op_and_source_line():
    x = ember.tensor([-1.0, 2.0], requires_grad=True)
    with ember.autograd.detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            x.log()  # the line the error must quote
    message = str(info.value)
    assert "Log" in message and "NaN" in message
    assert os.path.basename(__file__) in message
    assert "x.log()  # the line the error must quote" in message


def test_anomaly_forward_ignores_nan_that_came_from_inputs():
    x = ember.tensor([float("nan"), 2.0], requires_grad=True)
    with ember.autograd.detect_anomaly():
        y = x.exp()
    assert np.isnan(y.detach().numpy()[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_anomaly_backward_names_op_and_forward_line():
    x = ember.tensor([0.0, 4.0], requires_grad=True)
    with ember.autograd.detect_anomaly():
        y = (x.sqrt() * 0).sum()   # sqrt' at 0 is inf; times 0 it is nan
        with pytest.raises(RuntimeError) as info:
            y.backward()
    message = str(info.value)
    assert "SqrtBackward" in message
    assert "y = (x.sqrt() * 0).sum()" in message and os.path.basename(__file__) in message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_without_anomaly_mode_nan_propagates():
    assert not ember.autograd.is_anomaly_enabled()
    x = ember.tensor([0.0, 4.0], requires_grad=True)
    (x.sqrt() * 0).sum().backward()
    assert np.isnan(x.grad.numpy()[0])
    t = torch.tensor([0.0, 4.0], requires_grad=True)
    (t.sqrt() * 0).sum().backward()
    assert np.isnan(t.grad.numpy()[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_set_detect_anomaly_and_check_nan():
    assert not ember.autograd.is_anomaly_enabled()
    with ember.autograd.set_detect_anomaly(True):
        assert ember.autograd.is_anomaly_enabled()
    assert not ember.autograd.is_anomaly_enabled()
    with ember.autograd.detect_anomaly(check_nan=False):
        assert ember.autograd.is_anomaly_enabled()
        ember.tensor([-1.0], requires_grad=True).log()  # no NaN check
    assert not ember.autograd.is_anomaly_enabled()


# ---- user-defined Functions, gradcheck and gradgradcheck ---------------------------------------

class ScaledCube(Function):
    """y = scale * x^3, with forward on arrays and a differentiable backward."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return scale * x ** 3

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        assert ctx.needs_input_grad == [True, False]
        return grad * 3 * ctx.scale * x * x, None


class WrongCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * 2 * x * x   # should be 3 x^2


class ConstantSlopeCube(Function):
    """First derivative right, but computed from a saved constant: its own derivative is wrong."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(3 * x * x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        slope, = ctx.saved_tensors
        return grad * slope


def test_custom_function_matches_torch_including_double_backward():
    ex, tx = pair(X)
    y = ScaledCube.apply(ex, 2.0)
    assert y.grad_fn.name() == "ScaledCubeBackward"
    g, = ember.autograd.grad(y.sum(), ex, create_graph=True)
    gg, = ember.autograd.grad(g.sum(), ex)
    tg, = torch.autograd.grad((2.0 * tx ** 3).sum(), tx, create_graph=True)
    tgg, = torch.autograd.grad(tg.sum(), tx)
    assert_close(y, 2.0 * tx ** 3)
    assert_close(g, tg)
    assert_close(gg, tgg)


class TwoGrads(Function):
    """A backward that returns one gradient too many."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


def test_custom_function_wrong_number_of_gradients_raises():
    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 2 gradients, expected 1"):
        TwoGrads.apply(x).sum().backward()


def test_custom_function_wrong_gradient_shape_raises():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return ember.ones(5, dtype=ember.float64)

    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BadShapeBackward returned a gradient of shape \(5,\)"):
        BadShape.apply(x).sum().backward()


def test_once_differentiable_refuses_create_graph():
    class Fused(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @ember.autograd.once_differentiable
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * 2 * x

    x = ember.tensor(X, requires_grad=True)
    g, = ember.autograd.grad(Fused.apply(x).sum(), x)
    np.testing.assert_allclose(g.numpy(), 2 * X)
    y = Fused.apply(x)
    with pytest.raises(RuntimeError, match="only once differentiable"):
        ember.autograd.grad((y * y).sum(), x, create_graph=True)  # its incoming grad depends on x


def test_gradcheck_passes_on_correct_ops():
    x, y = ember.tensor(X, requires_grad=True), ember.tensor(Y, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, b: (a * b).sin() + a.exp() / (b * b + 1), (x, y))
    assert ember.autograd.gradcheck(lambda a: ScaledCube.apply(a, 0.5), (x,))
    assert ember.autograd.gradgradcheck(lambda a, b: (a * b).sin() * a, (x, y))


def test_gradcheck_reports_the_worst_element_of_a_wrong_function():
    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(ember.autograd.GradcheckError) as info:
        ember.autograd.gradcheck(WrongCube.apply, (x,))
    message = str(info.value)
    worst = np.unravel_index(np.argmax(X * X), X.shape)  # |2x^2 - 3x^2| is largest at max |x|
    assert "Jacobian mismatch for input 0" in message
    assert f"input element {tuple(int(i) for i in worst)}" in message
    assert "analytical" in message and "numerical" in message
    assert ember.autograd.gradcheck(WrongCube.apply, (x,), raise_exception=False) is False


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable():
    x = ember.tensor(X, requires_grad=True)
    assert ember.autograd.gradcheck(ConstantSlopeCube.apply, (x,))
    with pytest.raises(ember.autograd.GradcheckError, match="Jacobian mismatch"):
        ember.autograd.gradgradcheck(ConstantSlopeCube.apply, (x,))


def test_gradcheck_on_non_contiguous_input():
    big = np.zeros((3, 8))
    big[:, ::2] = X
    x = ember.from_numpy(big[:, ::2]).requires_grad_()
    assert not x.is_contiguous()
    assert ember.autograd.gradcheck(lambda a: a.sin() * a, (x,))


def test_gradcheck_with_an_output_that_does_not_require_grad():
    x = ember.tensor(X, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a: (a * 2, ember.ones(3, dtype=ember.float64)), (x,))


def test_gradcheck_input_errors():
    with pytest.raises(ember.autograd.GradcheckError, match="float64"):
        ember.autograd.gradcheck(lambda a: a * 2, (ember.ones(2, requires_grad=True),))
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        ember.autograd.gradcheck(lambda a: a * 2, (ember.ones(2, dtype=ember.float64),))
