"""Indexing ops against PyTorch and finite differences; setitem, views, repeated indices, errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F
from op_check import OpCase, parametrize_cases, randn
from test_shape import check_double_backward, gradcheck_cases

# scatter(reduce=...) is compared with PyTorch's deprecated form of it
pytestmark = pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter:UserWarning")


class Sample:
    """A random argument, drawn with the samples: ``make(rng, dtype)``."""

    def __init__(self, make):
        self.make = make


def floats(*shape):
    return Sample(lambda rng, dtype: randn(rng, dtype, *shape))


def ints(size, *shape):
    """Random indices in [0, size), repeats likely."""
    return Sample(lambda rng, dtype: rng.integers(0, size, shape))


def bools(*shape):
    return Sample(lambda rng, dtype: rng.random(shape) < 0.5)


def scalar(value):
    """A 0-d float tensor argument (differentiable)."""
    return Sample(lambda rng, dtype: np.asarray(value, dtype))


def distinct(size, shape, dim):
    """Indices along ``dim`` that never repeat a target (for writes whose order would matter)."""
    def make(rng, dtype):
        full = list(shape)
        full[dim] = size
        return np.take(rng.random(full).argsort(axis=dim), np.arange(shape[dim]), axis=dim)
    return Sample(make)


def rows(*rows):
    """Samples: the given argument rows, with each Sample (also inside tuples) drawn."""
    def draw(value, rng, dtype):
        if isinstance(value, Sample):
            return value.make(rng, dtype)
        if isinstance(value, tuple):
            return tuple(draw(v, rng, dtype) for v in value)
        return value
    return lambda rng, dtype: [[draw(a, rng, dtype) for a in row] for row in rows]


def getitem(x, key):
    return x[key]


def setitem(key):
    """``y = x.clone(); y[key] = value``, the same code for both libraries."""
    def fn(x, value):
        y = x.clone()
        y[key] = value
        return y
    return fn


def keys_of(shape, *keys):
    """Samples indexing one random tensor of ``shape`` with each key."""
    x = floats(*shape)
    return rows(*[[x, key] for key in keys])


BASIC_KEYS = [1, -1, (1, 2), (slice(None), 2), (Ellipsis, 0), (None, 1),
              (slice(1, 3), None, slice(None, None, 2)), (1, Ellipsis, None), (slice(-2, None), slice(0, 0)),
              (2, 3, 4), (Ellipsis,),
              (slice(None), -4, slice(1, -1))]
ADVANCED_KEYS = [([0, 2, 2, 0],), (0, slice(None), [1, 2]), ([[0, 1], [2, 2]], slice(None), [1, 3]),
                 (slice(None), [0, 0, 3], [1, 1, 4]), (None, [0, 1], None, 0),
                 (slice(None), np.array([-1, -4, 1])), (Ellipsis, [4, 0, 4]), ([1], slice(1, 3), [[2], [0]]),
                 ([],),
                 (1, [2, 2], slice(None, None, 2)), (np.array([[1, 0]]),)]
MASK_KEYS = [bools(3), bools(3, 4), (Ellipsis, bools(5)), (1, bools(4), [2]), bools(3, 4, 5),
             (slice(None), bools(4)), True, (False, 1), np.zeros((3, 4), bool)]


def same(fn):
    """The same function for ember and PyTorch, as an OpCase's keyword arguments."""
    return {"ember_fn": fn, "torch_fn": fn}


CASES = [
    OpCase("__getitem__", keys_of((3, 4, 5), *BASIC_KEYS), **same(getitem)),
    OpCase("__getitem__", rows([floats(), ()], [floats(), None], [floats(1), 0], [floats(), True]),
           **same(getitem)),
    OpCase("__getitem__", keys_of((3, 4, 5), *ADVANCED_KEYS), **same(getitem)),
    OpCase("__getitem__", rows([floats(4), [3, 3, 3]]), **same(getitem)),
    OpCase("__getitem__", keys_of((3, 4, 5), *MASK_KEYS), **same(getitem)),
    OpCase("getitem_tensor_index", rows([floats(4, 3), ints(4, 2, 3)], [floats(5), ints(5, 7)],
                                        [floats(2, 2), np.array([-1, 0, -2])]), **same(getitem)),
    OpCase("getitem_two_tensor_indices", rows([floats(4, 3, 5), ints(4, 6), ints(5, 6)],
                                              [floats(2, 3, 2), ints(2, 2, 1), ints(2, 3)]),
           **same(lambda x, i, j: x[i, :, j])),
    OpCase("getitem_mask_tensor", rows([floats(4, 3), bools(4, 3)], [floats(4, 3), bools(4)]),
           **same(lambda x, m: x[m] * 2)),
    OpCase("getitem_slice_then_tensor", rows([floats(4, 3), ints(3, 2, 2)]), **same(lambda x, i: x[1:, i])),
    OpCase("getitem_negative_step", rows([floats(4, 5)], [floats(1, 2)]),
           ember_fn=lambda x: x[::-1, ::-2], torch_fn=lambda x: x.flip(0).flip(1)[:, ::2]),
    OpCase("__setitem__", rows([floats(3, 4), floats(4)], [floats(3, 4), 2.0]), **same(setitem(1))),
    OpCase("__setitem__", rows([floats(3, 4), floats(3, 1)], [floats(3, 4), floats(1, 1, 2)]),
           **same(setitem((slice(None), [0, 2])))),
    OpCase("__setitem__", rows([floats(3, 4), floats(2, 4)]),
           ember_fn=setitem(np.array([True, False, True])),
           torch_fn=setitem(torch.tensor([True, False, True]))),
    OpCase("__setitem__", rows([floats(2, 3, 4), floats()], [floats(2, 3, 4), floats(2)]),
           **same(setitem((Ellipsis, slice(1, 3), 0)))),
    OpCase("setitem_into_constant", rows([floats(3, 4), floats(2, 4)]),
           ember_fn=lambda x, v: setitem([2, 0])(ember.zeros(3, 4, dtype=x.dtype), v * x[:2]),
           torch_fn=lambda x, v: setitem([2, 0])(torch.zeros(3, 4, dtype=x.dtype), v * x[:2])),
    OpCase("gather", rows([floats(3, 4), 1, ints(4, 3, 6)], [floats(3, 4), 0, ints(3, 2, 2)],
                          [floats(2, 3, 4), -1, ints(4, 2, 3, 1)], [floats(5), 0, ints(5, 8)])),
    # src no larger than index: PyTorch's own backward fails for a larger src (see the test below)
    OpCase("scatter", rows([floats(3, 5), 1, distinct(5, (3, 2), 1), floats(3, 2)],
                           [floats(4, 3), 0, distinct(4, (2, 3), 0), floats(2, 3)],
                           [floats(2, 3, 4), 2, distinct(4, (2, 1, 3), 2), floats(2, 1, 3)])),
    OpCase("scatter_larger_src", rows([floats(3, 5), 1, distinct(5, (3, 2), 1), floats(4, 3)]),
           ember_fn=ember.scatter, torch_fn=torch.scatter, grad=False),
    OpCase("scatter", rows([floats(3, 5), 1, distinct(5, (3, 2), 1), -1.5], [floats(4), 0, ints(4, 6), 2.0])),
    OpCase("scatter", rows([floats(3, 5), 1, ints(5, 3, 4), floats(3, 4)]), kwargs={"reduce": "add"},
           grad=False),
    OpCase("scatter", rows([floats(3, 5), 1, ints(5, 3, 4), floats(3, 4)]), kwargs={"reduce": "multiply"},
           grad=False),
    OpCase("scatter_add", rows([floats(3, 5), 1, ints(5, 3, 7), floats(3, 7)],
                               [floats(4, 2), 0, ints(4, 6, 1), floats(6, 1)],
                               [floats(3), 0, ints(3, 5), floats(5)])),
    OpCase("index_select", rows([floats(4, 3), 0, ints(4, 6)], [floats(2, 5, 3), -2, ints(5, 3)],
                                [floats(3), 0, np.array(2)], [floats(2, 3), 1, np.zeros(0, np.int64)])),
    OpCase("index_add", rows([floats(4, 3), 0, ints(4, 6), floats(6, 3)],
                             [floats(2, 5), 1, ints(5, 3), floats(2, 3)])),
    OpCase("index_add", rows([floats(4, 3), -1, ints(3, 5), floats(4, 5)]), kwargs={"alpha": -2.5}),
    OpCase("index_fill", rows([floats(4, 3), 0, ints(4, 3), 1.5],
                              [floats(2, 5), -1, ints(5, 4), scalar(-2.0)])),
    OpCase("index_put", rows([floats(4, 3), (np.array([0, 2, 3]), np.array([1, 1, 0])), floats(3)],
                             [floats(4, 3), (np.array([3, 1]),), floats(1, 3)])),
    OpCase("index_put", rows([floats(4, 3), (ints(4, 6), ints(3, 6)), floats(6)],
                             [floats(5), (ints(5, 8),), floats(1)]),
           kwargs={"accumulate": True}),
    OpCase("masked_fill", rows([floats(3, 4), bools(3, 4), 2.5], [floats(3, 4), bools(4), -1.0],
                               [floats(3), bools(2, 3), 0.0], [floats(2, 3), bools(2, 1), scalar(1.5)],
                               [floats(), bools(), 3.0])),
    OpCase("masked_select", rows([floats(3, 4), bools(3, 4)], [floats(3, 1), bools(2, 3, 4)],
                                 [floats(2, 3), bools(3)], [floats(), bools()])),
    OpCase("take_along_dim", rows([floats(3, 4), ints(4, 3, 2), 1],
                                  [floats(3, 4), np.array([[-3, -1, 2, -2]]), 0],
                                  [floats(3, 1, 2), ints(2, 1, 5, 3), 2], [floats(3, 4), ints(12, 5)])),
    OpCase("one_hot", rows([ints(4, 3, 2)], [ints(3, 5), 6], [np.array(2)]), torch_fn=TF.one_hot, grad=False),
    OpCase("nonzero", rows([np.array([[0.0, 1.5, 0.0], [-2.0, 0.0, 3.0]])], [np.asarray(1.0)], [np.zeros(3)]),
           grad=False),
    OpCase("nonzero", rows([np.array([[0.0, 1.5, 0.0], [-2.0, 0.0, 3.0]])], [np.asarray(2.0)]),
           kwargs={"as_tuple": True}, grad=False),
]

test_matches_torch, _ = parametrize_cases(CASES)
test_gradcheck = gradcheck_cases(CASES)


# ---- PyTorch's semantics where NumPy differs --------------------------------------------------

@pytest.mark.parametrize("key", [(0, slice(None), [1, 2]), (None, [0, 1], None, 0),
                                 (slice(None), [0, 1], slice(None), 0)],
                         ids=["int-slice-array", "none-array-none-int", "slice-array-slice-int"])
def test_int_next_to_index_array_follows_torch_not_numpy(key):
    x = np.arange(120.0).reshape(3, 4, 5, 2)
    assert tuple(x[key].shape) != tuple(torch.tensor(x)[key].shape)   # NumPy differs here
    result, expected = ember.tensor(x)[key], torch.tensor(x)[key]
    assert tuple(result.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(result.numpy(), expected.numpy())


def test_zero_dim_integer_tensor_index_selects_like_an_int():
    x = ember.arange(12.0).reshape(3, 4)
    assert x[ember.tensor(1)].shape == (4,)
    assert x[ember.tensor(2), ember.tensor([0, 3])].tolist() == [8.0, 11.0]


# ---- repeated indices accumulate ----------------------------------------------------------------

@pytest.mark.parametrize("op,expected", [
    (lambda x: x[[0, 0, 2, 0]], [3.0, 0.0, 1.0]),
    (lambda x: x[ember.tensor([[2, 2], [2, 1]])], [0.0, 1.0, 3.0]),
    (lambda x: x.index_select(0, ember.tensor([1, 1, 1])), [0.0, 3.0, 0.0]),
    (lambda x: x.gather(0, ember.tensor([0, 2, 0, 0, 2])), [3.0, 0.0, 2.0]),
    (lambda x: x.take_along_dim(ember.tensor([-1, 2, 0])), [1.0, 0.0, 2.0]),
    (lambda x: x.unsqueeze(0).expand(2, 3)[[0, 1, 1], [1, 1, 1]], [0.0, 3.0, 0.0]),
], ids=["list", "tensor-2d", "index_select", "gather", "take_along_dim", "two-arrays"])
def test_repeated_indices_accumulate_gradient(op, expected):
    x = ember.zeros(3, requires_grad=True)
    op(x).sum().backward()
    assert x.grad.tolist() == expected


def test_accumulating_writes_add_every_repeat():
    x = ember.zeros(3)
    values = ember.tensor([1.0, 2.0, 4.0, 8.0], requires_grad=True)
    out = x.index_put((ember.tensor([0, 0, 2, 0]),), values, accumulate=True)
    assert out.tolist() == [11.0, 0.0, 4.0]
    constant = values.detach()
    assert ember.zeros(3).scatter_add(0, ember.tensor([1, 1, 1, 0]), constant).tolist() == [8.0, 7.0, 0.0]
    assert ember.zeros(3).index_add(0, ember.tensor([2, 2, 2, 2]), constant).tolist() == [0.0, 0.0, 15.0]
    (out * ember.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert values.grad.tolist() == [1.0, 1.0, 100.0, 1.0]


# ---- tensor[key] = value ------------------------------------------------------------------------

@pytest.mark.parametrize("key,value_shape", [
    ((slice(None), slice(1, 3)), (3, 1)), (([0, 2, 0],), (4,)), ((Ellipsis, 1), ()), ((1, [0, 3]), (1, 2)),
    ((np.array([True, False, True]), slice(None, 2)), (2,)),
], ids=["slice-broadcast", "repeated-rows", "ellipsis-scalar", "int-and-list", "mask"])
def test_setitem_gradients_match_torch(key, value_shape):
    rng = np.random.default_rng(0)
    a, v, w = rng.standard_normal((3, 4)), rng.standard_normal(value_shape), rng.standard_normal((3, 4))
    torch_key = tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    grads = []
    for lib, k in ((ember, key), (torch, torch_key)):
        ta, tv = lib.tensor(a, requires_grad=True), lib.tensor(v, requires_grad=True)
        y = ta * 2
        y[k] = tv * 3
        (y * lib.tensor(w)).sum().backward()
        grads.append((y.detach().numpy(), ta.grad.numpy(), tv.grad.numpy()))
    for mine, theirs in zip(*grads):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_setitem_without_autograd_writes_in_place():
    x = ember.zeros(3, 4)
    row, pointer, version = x[1], x.data_ptr(), x._version_number
    x[1, 2] = 7.0
    x[[0, 2], 0] = ember.tensor([1.0, 2.0])
    row[0] = 5.0                              # through a view
    assert x.data_ptr() == pointer and x._version_number == version + 3
    assert x.tolist() == [[1.0, 0, 0, 0], [5.0, 0, 7.0, 0], [2.0, 0, 0, 0]]
    assert row.tolist() == [5.0, 0, 7.0, 0]


def test_setitem_casts_the_value_like_torch():
    x, t = ember.zeros(3, dtype=ember.int64), torch.zeros(3, dtype=torch.int64)
    x[0], t[0] = 2.7, 2.7
    x[1:], t[1:] = ember.tensor([1.9, -1.9]), torch.tensor([1.9, -1.9])
    assert x.tolist() == t.tolist()


def test_setitem_on_leaf_requiring_grad_raises_but_is_allowed_under_no_grad():
    x = ember.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="__setitem__: a leaf Variable that requires grad"):
        x[0] = 1.0
    with ember.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


def test_setitem_after_save_makes_backward_raise():
    x = ember.randn(3, requires_grad=True)
    y = x * 1
    z = y * y                                # saves y
    y[0] = 2.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_basic_index_is_a_view_and_advanced_index_a_copy():
    x = ember.arange(6.0).reshape(2, 3)
    view, copy = x[:, 1:], x[:, [1, 2]]
    assert view._version is x._version and copy._version is not x._version
    with ember.no_grad():
        view.mul_(10)
    assert x.tolist() == [[0.0, 10.0, 20.0], [3.0, 40.0, 50.0]]
    assert copy.tolist() == [[1.0, 2.0], [4.0, 5.0]]


def test_index_changed_after_use_does_not_change_the_gradient():
    x = ember.zeros(3, requires_grad=True)
    index = ember.tensor([0, 1])
    y = x[index]
    index[0] = 2
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0]


# ---- in-place variants and scatter's reduce -----------------------------------------------------

IN_PLACE = [
    ("masked_fill_", lambda lib: (lib.tensor([[True, False, True], [False, False, True]]), -1.0)),
    ("scatter_", lambda lib: (1, lib.tensor([[2, 0], [1, 2]]), lib.tensor([[10.0, 20.0], [30.0, 40.0]]))),
    ("scatter_add_", lambda lib: (1, lib.tensor([[2, 2], [0, 2]]), lib.tensor([[10.0, 20.0], [30.0, 40.0]]))),
    ("index_add_", lambda lib: (1, lib.tensor([2, 0, 2]), lib.ones(2, 3))),
    ("index_fill_", lambda lib: (0, lib.tensor([1]), 9.0)),
    ("index_put_", lambda lib: ((lib.tensor([0, 1, 1]), lib.tensor([2, 0, 2])), lib.tensor([5.0, 6.0, 7.0]))),
]


@pytest.mark.parametrize("name,args", IN_PLACE, ids=[c[0] for c in IN_PLACE])
def test_in_place_variants_match_torch(name, args):
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    results = []
    for lib in (ember, torch):
        leaf = lib.tensor(base, requires_grad=True)
        target = leaf * 1
        returned = getattr(target, name)(*args(lib))
        assert returned is target
        target.pow(2).sum().backward()
        results.append((target.detach().numpy(), leaf.grad.numpy()))
    for mine, theirs in zip(*results):
        np.testing.assert_allclose(mine, theirs)


def test_scatter_reduce_add_gradient_equals_scatter_add():
    rng = np.random.default_rng(1)
    x, src, index = rng.standard_normal((3, 5)), rng.standard_normal((3, 4)), rng.integers(0, 5, (3, 4))
    ex, esrc = ember.tensor(x, requires_grad=True), ember.tensor(src, requires_grad=True)
    tx, tsrc = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    (ember.scatter(ex, 1, ember.tensor(index), esrc, reduce="add") ** 2).sum().backward()
    (torch.scatter_add(tx, 1, torch.tensor(index), tsrc) ** 2).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(esrc.grad.numpy(), tsrc.grad.numpy())


def test_scatter_from_a_larger_src_takes_gradient_from_its_used_part():
    x = ember.randn(3, 5, dtype=ember.float64, requires_grad=True)
    src = ember.randn(4, 3, dtype=ember.float64, requires_grad=True)
    index = ember.tensor([[4, 0], [1, 2], [3, 1]])
    assert ember.autograd.gradcheck(lambda x, src: x.scatter(1, index, src), [x, src])
    x.scatter(1, index, src).sum().backward()
    assert src.grad.tolist() == [[1.0, 1.0, 0.0]] * 3 + [[0.0, 0.0, 0.0]]


def test_index_fill_value_gradient_counts_a_repeated_slice_once():
    value = ember.tensor(2.0, requires_grad=True)
    ember.zeros(3).index_fill(0, ember.tensor([0, 0, 1]), value).sum().backward()
    assert value.grad.item() == 2.0


def test_scatter_reduce_multiply_has_no_gradient():
    x = ember.ones(2, 3, requires_grad=True)
    y = x.scatter(1, ember.tensor([[0], [2]]), ember.full((2, 1), 3.0), reduce="multiply")
    assert y.tolist() == [[3.0, 1.0, 1.0], [1.0, 1.0, 3.0]]
    with pytest.raises(RuntimeError, match="derivative of scatter with reduce='multiply' is not implemented"):
        y.sum().backward()


def test_masked_fill_keeps_integer_dtype():
    x = ember.zeros(3, dtype=ember.int64).masked_fill(ember.tensor([True, False, True]), 1.7)
    assert x.dtype == ember.int64 and x.tolist() == [1, 0, 1]


def test_nonzero_of_zero_dim_tensor():
    assert ember.nonzero(ember.tensor(5.0)).shape == torch.nonzero(torch.tensor(5.0)).shape == (1, 0)
    assert [t.tolist() for t in ember.tensor(5.0).nonzero(as_tuple=True)] == [[0]]


# ---- double backward ----------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda x: x[1:, ::-1] ** 2,
    lambda x: x[[0, 0, 2], 1:] ** 2,
    lambda x: x[x.detach() > 0] ** 2,
    lambda x: x.gather(1, ember.tensor([[0, 0], [3, 1], [2, 2]])) ** 2,
    lambda x: x.scatter(1, ember.tensor([[0], [3], [2]]), x[:, :1] ** 2) ** 2,
    lambda x: x.index_put((ember.tensor([0, 0]), ember.tensor([1, 1])), x[0, :2] ** 2, accumulate=True) ** 2,
    lambda x: x.masked_fill(ember.tensor([True, False, True, False]), 1.0) ** 2,
    lambda x: x.take_along_dim(ember.tensor([[-1], [0], [1]]), 1) ** 2,
    lambda x: x.index_add(0, ember.tensor([2, 2]), x[:2] ** 2) ** 2,
], ids=["basic", "advanced", "mask", "gather", "scatter", "index_put", "masked_fill", "take_along_dim",
        "index_add"])
def test_double_backward(fn):
    check_double_backward(fn, ember.randn(3, 4, dtype=ember.float64, requires_grad=True))


def test_double_backward_of_setitem():
    def fn(x, v):
        y = x * x
        y[1:, [0, 2]] = v * v
        return y
    check_double_backward(fn, ember.randn(3, 4, dtype=ember.float64, requires_grad=True),
                          ember.randn(2, 1, dtype=ember.float64, requires_grad=True))


# ---- errors -------------------------------------------------------------------------------------

X = ember.arange(6.0).reshape(2, 3)
LONG = ember.tensor

ERRORS = [
    ("int out of range", lambda: X[2], IndexError,
     r"__getitem__: index 2 is out of bounds for dimension 0 with size 2"),
    ("int out of range dim 1", lambda: X[:, -4], IndexError,
     r"__getitem__: index -4 is out of bounds for dimension 1 with size 3"),
    ("tensor index out of range", lambda: X[LONG([0, 5])], IndexError,
     r"__getitem__: index 5 is out of bounds for dimension 0 with size 2"),
    ("too many indices", lambda: X[0, 0, 0], IndexError,
     r"__getitem__: too many indices for tensor of dimension 2"),
    ("two ellipses", lambda: X[..., ...], IndexError, r"an index can only have a single ellipsis"),
    ("float index", lambda: X[1.5], IndexError,
     r"only integers, slices \(`:`\), ellipsis \(`...`\), None and long or bool tensors are valid indices "
     r"\(got float\)"),
    ("float tensor index", lambda: X[ember.tensor([1.0])], IndexError,
     r"tensors used as indices must be long, int or bool tensors \(got float32\)"),
    ("mask shape", lambda: X[ember.tensor([True, False, True])], IndexError,
     r"The shape of the mask \[3\] at index 0 does not match the shape of the indexed tensor \[2, 3\] at "
     r"index 0"),
    ("index shapes", lambda: X[[0, 1], [0, 1, 2]], IndexError,
     r"shape mismatch: indexing tensors could not be broadcast together with shapes \[2\], \[3\]"),
    ("setitem shape", lambda: X.clone().__setitem__(0, ember.ones(2, 3)), RuntimeError,
     r"shape mismatch: value tensor of shape \[2, 3\] cannot be broadcast to indexing result of shape \[3\]"),
    ("setitem expanded", lambda: ember.zeros(1).expand(3).__setitem__(0, 1.0), RuntimeError,
     r"__setitem__: the written-to tensor's memory is read-only \(an expanded tensor"),
    ("gather negative", lambda: X.gather(0, LONG([[-1, 0, 0]])), IndexError,
     r"gather\(\): index -1 is out of bounds for dimension 0 with size 2"),
    ("gather too large", lambda: X.gather(1, LONG([[3, 0]])), IndexError,
     r"gather\(\): index 3 is out of bounds for dimension 1 with size 3"),
    ("gather dtype", lambda: X.gather(0, ember.tensor([[0]], dtype=ember.int32)), RuntimeError,
     r"gather\(\): Expected dtype int64 for index"),
    ("gather ndim", lambda: X.gather(0, LONG([0])), RuntimeError,
     r"gather\(\): Index tensor must have the same number of dimensions as input tensor"),
    ("gather size", lambda: X.gather(0, LONG([[0, 0, 0, 0]])), RuntimeError,
     r"gather\(\): Size does not match at dimension 1: expected index \[1, 4\] to be no larger than self "
     r"\[2, 3\]"),
    ("scatter src size", lambda: X.scatter(0, LONG([[0, 1]]), ember.ones(1, 1)), RuntimeError,
     r"scatter\(\): Size does not match at dimension 1.*no larger than src \[1, 1\]"),
    ("scatter dtype", lambda: X.scatter(0, LONG([[0]]), ember.ones(1, 1, dtype=ember.float64)), RuntimeError,
     r"scatter\(\): Expected self.dtype to be equal to src.dtype"),
    ("scatter reduce", lambda: X.scatter(0, LONG([[0]]), 1.0, reduce="max"), RuntimeError,
     r"scatter\(\): Expected reduce argument to be either add or multiply \(got 'max'\)"),
    ("scatter_add negative", lambda: X.scatter_add(1, LONG([[-1]]), ember.ones(1, 1)), IndexError,
     r"scatter_add\(\): index -1 is out of bounds for dimension 1 with size 3"),
    ("index_select matrix", lambda: X.index_select(0, LONG([[0]])), IndexError,
     r"index_select\(\): Index is supposed to be a vector"),
    ("index_select range", lambda: X.index_select(1, LONG([3])), IndexError,
     r"index_select\(\): index 3 is out of bounds for dimension 1 with size 3"),
    ("index_select dtype", lambda: X.index_select(1, ember.tensor([0.0])), RuntimeError,
     r"index_select\(\): Expected dtype int32/int64 for index"),
    ("index_add shape", lambda: X.index_add(1, LONG([0]), ember.ones(2, 2)), RuntimeError,
     r"index_add\(\): source tensor shape must match self tensor shape, excluding the specified dimension"),
    ("masked_fill mask dtype", lambda: X.masked_fill(ember.ones(2, 3), 0.0), RuntimeError,
     r"masked_fill only supports boolean masks, but got mask with dtype ember.float32"),
    ("masked_fill value", lambda: X.masked_fill(X > 2, ember.ones(1)), RuntimeError,
     r"masked_fill only supports a 0-dimensional value tensor, but got tensor with 1 dimension"),
    ("masked_fill_ grows", lambda: ember.zeros(3).masked_fill_(ember.ones(2, 3, dtype=ember.bool), 1.0),
     RuntimeError,
     r"masked_fill_: output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"),
    ("masked_select shapes", lambda: X.masked_select(ember.ones(4, dtype=ember.bool)), RuntimeError,
     r"masked_select: The size of tensor a \(3\) must match the size of tensor b \(4\)"),
    ("take_along_dim ndim", lambda: X.take_along_dim(LONG([0]), 1), RuntimeError,
     r"take_along_dim\(\): input and indices should have the same number of dimensions, but got 2 dimensions "
     r"for input, and 1 dimensions for indices"),
    ("take_along_dim range", lambda: X.take_along_dim(LONG([[3]]), 1), IndexError,
     r"take_along_dim\(\): index 3 is out of bounds for dimension 1 with size 3"),
    ("one_hot dtype", lambda: F.one_hot(ember.tensor([1], dtype=ember.int32)), RuntimeError,
     r"one_hot is only applicable to index tensor of type LongTensor"),
    ("one_hot negative", lambda: F.one_hot(LONG([-1, 2])), RuntimeError,
     r"one_hot: Class values must be non-negative"),
    ("one_hot too large", lambda: ember.nn.functional.one_hot(LONG([1, 2]), 2), RuntimeError,
     r"one_hot: Class values must be smaller than num_classes \(2\), got 2"),
    ("one_hot empty", lambda: F.one_hot(ember.zeros(0, dtype=ember.int64)), RuntimeError,
     r"one_hot: Can not infer total number of classes from empty tensor"),
]


@pytest.mark.parametrize("name,call,error,pattern", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(name, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_torch_also_rejects_negative_gather_and_scatter_indices():
    x = torch.arange(6.0).reshape(2, 3)
    for call in (lambda: x.gather(0, torch.tensor([[-1, 0, 0]])),
                 lambda: x.index_select(1, torch.tensor([-1])),
                 lambda: x.scatter_add(1, torch.tensor([[-1]]), torch.ones(1, 1))):
        with pytest.raises(RuntimeError):
            call()
    assert x.take_along_dim(torch.tensor([[-1]]), 1).tolist() == [[2.0], [5.0]]   # wraps, as ember's
    assert TF.one_hot(torch.tensor([1, 2])).dtype == torch.int64
