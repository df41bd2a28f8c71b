"""Property tests (hypothesis) for shape ops: on random shapes, each op and its inverse round-trip
the values, and the gradient of sum(op(x) * w) is the inverse op applied to w."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import ember

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


def leaf(shape, seed):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def grad_against(out, x, seed):
    """The gradient of sum(out * w) with respect to x, and w."""
    w = ember.tensor(np.random.default_rng(seed + 1).standard_normal(tuple(out.shape)))
    (out * w).sum().backward()
    return x.grad, w


@settings(max_examples=40, deadline=None)
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2 ** 16))
def test_reshape_round_trip_and_gradient(shape, data, seed):
    x = leaf(shape, seed)
    # another shape of the same numel: merge runs of dims, then shuffle the merged sizes
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(shape) - 1, 1)), max_size=3)))
    merged = [int(np.prod(shape[a:b])) for a, b in zip([0] + cuts, cuts + [len(shape)])]
    target = data.draw(st.permutations(merged)) + data.draw(st.lists(st.just(1), max_size=2))
    y = x.reshape(target)
    assert list(y.shape) == list(target)
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy().reshape(target))
    np.testing.assert_array_equal(y.reshape(shape).detach().numpy(), x.detach().numpy())
    g, w = grad_against(y, x, seed)
    np.testing.assert_array_equal(g.numpy(), w.reshape(shape).numpy())


@settings(max_examples=40, deadline=None)
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2 ** 16))
def test_permute_round_trip_and_gradient(shape, data, seed):
    x = leaf(shape, seed)
    order = data.draw(st.permutations(range(len(shape))))
    inverse = list(np.argsort(order))
    y = x.permute(order)
    assert tuple(y.shape) == tuple(shape[d] for d in order)
    np.testing.assert_array_equal(y.permute(inverse).detach().numpy(), x.detach().numpy())
    np.testing.assert_array_equal(y.detach().numpy(), np.transpose(x.detach().numpy(), order))
    g, w = grad_against(y, x, seed)
    np.testing.assert_array_equal(g.numpy(), w.permute(inverse).numpy())


@settings(max_examples=40, deadline=None)
@given(shape=nonscalar_shapes, data=st.data(), seed=st.integers(0, 2 ** 16))
def test_transpose_is_its_own_inverse(shape, data, seed):
    x = leaf(shape, seed)
    dim0, dim1 = (data.draw(st.integers(-len(shape), len(shape) - 1)) for _ in range(2))
    y = x.transpose(dim0, dim1)
    np.testing.assert_array_equal(y.transpose(dim0, dim1).detach().numpy(), x.detach().numpy())
    np.testing.assert_array_equal(y.detach().numpy(), np.swapaxes(x.detach().numpy(), dim0, dim1))
    g, w = grad_against(y, x, seed)
    np.testing.assert_array_equal(g.numpy(), w.transpose(dim0, dim1).numpy())


@settings(max_examples=40, deadline=None)
@given(shape=nonscalar_shapes, data=st.data(), seed=st.integers(0, 2 ** 16))
def test_flip_is_its_own_inverse(shape, data, seed):
    x = leaf(shape, seed)
    dims = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    y = x.flip(dims)
    np.testing.assert_array_equal(y.detach().numpy(), np.flip(x.detach().numpy(), dims))
    np.testing.assert_array_equal(y.flip(dims).detach().numpy(), x.detach().numpy())
    g, w = grad_against(y, x, seed)
    np.testing.assert_array_equal(g.numpy(), w.flip(dims).numpy())


@settings(max_examples=40, deadline=None)
@given(shape=nonscalar_shapes, data=st.data(), seed=st.integers(0, 2 ** 16))
def test_split_then_cat_round_trip_and_gradient(shape, data, seed):
    x = leaf(shape, seed)
    dim = data.draw(st.integers(0, len(shape) - 1))
    size = shape[dim]
    cuts = sorted(data.draw(st.lists(st.integers(0, size), max_size=3)))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [size])]
    parts = x.split(sizes, dim)
    assert [p.shape[dim] for p in parts] == sizes
    for part, expected in zip(parts, np.split(x.detach().numpy(), cuts, axis=dim)):
        np.testing.assert_array_equal(part.detach().numpy(), expected)
    # each part is weighted differently: the gradient of x is the weights put back in place
    weights = [ember.tensor(np.random.default_rng(seed + i).standard_normal(tuple(p.shape)))
               for i, p in enumerate(parts)]
    y = ember.cat([p * w for p, w in zip(parts, weights)], dim)
    np.testing.assert_array_equal((ember.cat(parts, dim)).detach().numpy(), x.detach().numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ember.cat(weights, dim).numpy())


@settings(max_examples=30, deadline=None)
@given(shape=nonscalar_shapes, data=st.data(), seed=st.integers(0, 2 ** 16))
def test_roll_round_trip_and_gradient(shape, data, seed):
    x = leaf(shape, seed)
    dim = data.draw(st.integers(0, len(shape) - 1))
    shift = data.draw(st.integers(-6, 6))
    y = x.roll(shift, dim)
    np.testing.assert_array_equal(y.detach().numpy(), np.roll(x.detach().numpy(), shift, dim))
    np.testing.assert_array_equal(y.roll(-shift, dim).detach().numpy(), x.detach().numpy())
    g, w = grad_against(y, x, seed)
    np.testing.assert_array_equal(g.numpy(), w.roll(-shift, dim).numpy())


def key_part(size, list_length):
    """An index of one dim: a slice (any step), or else an int (``list_length`` None: a basic key)
    or a list of ``list_length`` indices, repeats likely (no ints beside lists, where PyTorch and
    NumPy place dims differently)."""
    bound = st.none() | st.integers(-size, size)
    part = st.integers(-size, size - 1)
    if list_length is not None:
        part = st.lists(st.integers(-size, size - 1), min_size=list_length, max_size=list_length)
    return st.builds(slice, bound, bound, st.sampled_from([None, 1, 2, -1, -2])) | part


@settings(max_examples=40, deadline=None)
@given(shape=nonscalar_shapes, data=st.data(), seed=st.integers(0, 2 ** 16))
def test_getitem_gradient_is_the_gradient_scattered_into_zeros(shape, data, seed):
    x = leaf(shape, seed)
    list_length = data.draw(st.none() | st.integers(1, 3))
    indexed = data.draw(st.integers(1, len(shape)))
    key = tuple(data.draw(key_part(n, list_length)) for n in shape[:indexed])
    y = x[key]
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy()[key])
    g, w = grad_against(y, x, seed)
    expected = np.zeros(shape)
    np.add.at(expected, key, w.numpy())  # repeated positions accumulate
    np.testing.assert_array_equal(g.numpy(), expected)
