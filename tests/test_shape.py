"""Shape ops against PyTorch and finite differences; views, copies and errors."""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F
from op_check import OpCase, check_gradients, parametrize_cases, randn, random_shape


# ---- a workaround for engine/gradcheck.py ------------------------------------------------------
# Its analytical Jacobian seeds each output with np.zeros_like(output), which keeps the memory
# layout of a transposed or expanded output, so `seed.reshape(-1)[k] = 1` writes into a copy and
# the Jacobian row comes out zero. Until that is fixed, gradcheck here sees contiguous copies of
# the outputs, which have the same gradients. (test_indexing imports these helpers.)

def contiguous_outputs(fn):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        return tuple(o.contiguous() for o in out) if isinstance(out, tuple) else out.contiguous()
    return wrapped


def gradcheck_cases(cases):
    """``parametrize_cases``'s gradcheck test, on contiguous outputs."""
    checked = [c for c in cases if c.grad and c.gradcheck]

    @pytest.mark.parametrize("case", checked, ids=[c.id for c in checked])
    def test_gradcheck(case):
        check_gradients(dataclasses.replace(case, ember_fn=contiguous_outputs(case.ember_fn)))

    return test_gradcheck


def check_double_backward(fn, *inputs):
    """gradcheck of a vector-Jacobian product of ``fn``: its backward's own backward is right."""
    rng = np.random.default_rng(0)
    vector = ember.tensor(rng.standard_normal(tuple(fn(*inputs).shape)))

    def vjp(*xs):
        wrt = [x for x in xs if isinstance(x, ember.Tensor) and x.requires_grad]
        return tuple(g.contiguous() for g in ember.autograd.grad(fn(*xs), wrt, vector, create_graph=True))

    assert ember.autograd.gradcheck(vjp, inputs, atol=1e-6, rtol=1e-4)


def shapes_with(rng, ndim_low=1, ndim_high=3):
    """Random shapes of each rank, one with a size-1 dim, for ops that need at least ``ndim_low``
    dims."""
    shapes = [random_shape(rng, n, 1, 4) for n in range(ndim_low, ndim_high + 1)]
    return shapes + [(1,) * ndim_low + random_shape(rng, max(ndim_high - ndim_low, 0), 2, 3)]


def unary(make_args, ndim_low=1, ndim_high=3):
    """Samples [x, *make_args(rng, shape)] over ``shapes_with``."""
    return lambda rng, dtype: [[randn(rng, dtype, *s), *make_args(rng, s)]
                               for s in shapes_with(rng, ndim_low, ndim_high)]


def method(name, *args, **kwargs):
    """The Tensor method ``name`` called the same way in both libraries."""
    return lambda x, *more: getattr(x, name)(*args, *more, **kwargs)


def list_op(name, **kwargs):
    """``lib.name([a, b, ...])``: the tensors are separate samples, so gradcheck sees each one."""
    return (lambda *xs: getattr(ember, name)(list(xs), **kwargs),
            lambda *xs: getattr(torch, name)(list(xs), **kwargs))


def cat_samples(rng, dtype):
    a, b = random_shape(rng, 2, 1, 3)
    return [[randn(rng, dtype, 2, a), randn(rng, dtype, 3, a), randn(rng, dtype, 1, a)],
            [randn(rng, dtype, a, b), randn(rng, dtype, a, b)],
            [randn(rng, dtype, 2, 1, 3), randn(rng, dtype, 2, 1, 3)],
            [randn(rng, dtype, 4), np.zeros((0,), dtype)]]


def cat_dim1_samples(rng, dtype):
    return [[randn(rng, dtype, 2, 1), randn(rng, dtype, 2, 3)],
            [randn(rng, dtype, 0, 2), randn(rng, dtype, 0, 3)],
            [randn(rng, dtype, 3, 2, 2), randn(rng, dtype, 3, 1, 2), randn(rng, dtype, 3, 4, 2)]]


def same_shape_samples(rng, dtype):
    return [[randn(rng, dtype, *s), randn(rng, dtype, *s), randn(rng, dtype, *s)]
            for s in [(), (3,), (2, 3), (1, 2, 2)]]


def stack_samples(rng, dtype):
    return [[randn(rng, dtype, *s), randn(rng, dtype, *s)] for s in [(), (3,), (2, 3), (2, 1, 2)]]


def on(*specs):
    """Samples [x, *args]: x random of ``shape`` for each ``(shape, *args)`` in ``specs``."""
    return lambda rng, dtype: [[randn(rng, dtype, *shape), *args] for shape, *args in specs]


def no_args(rng, shape):
    return []


def pad_case(samples, **kwargs):
    """``F.pad``, which PyTorch has only in torch.nn.functional."""
    return OpCase("pad", samples, torch_fn=TF.pad, kwargs=kwargs)


CASES = [
    OpCase("reshape", on(((2, 3, 4), (6, 4)), ((2, 3), (-1,)), ((), (1, 1)), ((1,), ()),
                         ((3, 1, 2), (2, -1, 1)))),
    OpCase("expand", on(((3, 1), (2, 3, 4)), ((), (2, 3)), ((1, 2), (-1, 2))),
           ember_fn=method("expand"), torch_fn=method("expand")),
    OpCase("broadcast_to", on(((3, 1), (2, 3, 4)), ((), (3,)))),
    OpCase("flatten", unary(no_args, 0)),
    OpCase("flatten", unary(no_args, 2), kwargs={"start_dim": 1}),
    OpCase("flatten", unary(no_args, 3), kwargs={"start_dim": 0, "end_dim": -2}),
    OpCase("ravel", unary(no_args, 0)),
    OpCase("unflatten", on(((6,), 0, (2, 3)), ((2, 12), -1, (3, -1, 2)), ((3, 4, 2), 1, (4, 1)),
                           ((0, 3), 0, (0, 5)))),
    OpCase("squeeze", on(((),), ((1,),), ((2, 1, 3),), ((1, 1, 2, 1),))),
    OpCase("squeeze", on(((2, 1, 3), 1), ((2, 3), -1), ((1, 2, 1), (0, 2)), ((1, 2, 1), (0, 1)), ((), 0))),
    OpCase("unsqueeze", on(((), 0), ((3,), -1), ((2, 3), 1), ((2, 3), -3))),
    OpCase("permute", on(((2, 3, 4), (2, 0, 1)), ((2, 3), (-1, 0)), ((1, 3, 2, 2), (3, 1, 0, 2)), ((), ()))),
    OpCase("transpose", unary(lambda rng, shape: [0, -1])),
    OpCase("transpose", on(((2, 3, 4), 2, 1), ((), 0, -1))),
    OpCase("swapaxes", unary(lambda rng, shape: [0, len(shape) - 1], 2)),
    OpCase("swapdims", unary(lambda rng, shape: [-1, 0], 2)),
    OpCase("movedim", on(((2, 3, 4), 0, -1), ((2, 3, 4, 1), (0, 1), (3, 0)), ((2, 3), [1], [0]))),
    OpCase("moveaxis", on(((2, 3, 4), 2, 0))),
    OpCase("T", unary(no_args, 0), ember_fn=lambda x: x.T,
           torch_fn=lambda x: x.permute(tuple(range(x.ndim - 1, -1, -1)))),
    OpCase("mT", unary(no_args, 2), ember_fn=lambda x: x.mT, torch_fn=lambda x: x.mT),
    OpCase("repeat", on(((2, 3), (2, 1)), ((3,), (2, 1, 3)), ((), (3,)), ((1, 2), (1, 0)),
                        ((2, 1, 2), (1, 3, 2))),
           ember_fn=lambda x, r: x.repeat(*r), torch_fn=lambda x, r: x.repeat(*r)),
    OpCase("tile", on(((2, 3), (2,)), ((3,), (2, 2)), ((2, 2), (1, 2, 3)))),
    OpCase("flip", on(((2, 3, 4), (0, 2)), ((5,), (-1,)), ((1, 3), (0, 1)), ((), ()))),
    OpCase("roll", on(((2, 3, 4), (1, -2), (0, 2)), ((5,), 7, 0), ((3, 4), 5, None), ((1, 3), -1, -1))),
    OpCase("cat", cat_samples, *list_op("cat")),
    OpCase("cat", cat_dim1_samples, *list_op("cat", dim=1)),
    OpCase("concat", cat_dim1_samples, *list_op("concat", dim=1)),
    OpCase("concatenate", cat_samples, *list_op("concatenate")),
    OpCase("stack", stack_samples, *list_op("stack")),
    OpCase("stack", stack_samples, *list_op("stack", dim=-1)),
    OpCase("hstack", same_shape_samples, *list_op("hstack")),
    OpCase("vstack", same_shape_samples, *list_op("vstack")),
    OpCase("split", on(((5, 2), 2), ((2, 6), 3, 1), ((3,), 5), ((5, 2), [1, 0, 4]), ((2, 4, 1), [3, 1], -2))),
    OpCase("chunk", on(((5, 2), 2), ((6,), 4), ((2, 3), 3, 1), ((2, 1), 2, -1), ((0, 2), 3))),
    OpCase("unbind", on(((3, 2),), ((2, 4, 1), 1), ((3,), -1))),
    OpCase("narrow", on(((5, 2), 0, 1, 3), ((2, 6), -1, -4, 2), ((3,), 0, 3, 0))),
    OpCase("select", on(((5, 2), 0, 3), ((2, 6), -1, -2), ((3,), 0, 0))),
    pad_case(on(((2, 3), (1, 2)), ((2, 3, 2), (0, 1, 2, 0, 1, 1)), ((4, 5), (-1, 2, 1, -2)), ((3,), (0, 0)))),
    pad_case(on(((2, 3), (2, 1)), ((1, 2, 3), (1, 1, 0, 2))), mode="constant", value=1.5),
    pad_case(on(((2, 4), (3, 2)), ((2, 3, 4), (1, 3)), ((1, 3, 4), (2, 1, 1, 2)),
                ((1, 1, 3, 3, 3), (1, 2, 0, 1, 2, 1)), ((2, 5), (-1, 2))), mode="reflect"),
    pad_case(on(((2, 3), (4, 2)), ((1, 2, 3), (1, 2, 3, 0)), ((1, 1, 2, 2, 1), (2, 2, 1, 1, 0, 1)),
                ((2, 5), (-2, 1)), ((1, 4, 3), (1, -1, -2, 2))), mode="replicate"),
    pad_case(on(((2, 3), (3, 2)), ((1, 2, 3), (1, 2, 2, 1)), ((2, 4), (-1, 2)), ((1, 5, 4), (1, -2, -1, 3))),
             mode="circular"),
    OpCase("tril", unary(no_args, 2)),
    OpCase("tril", on(((3, 4), 1), ((2, 4, 3), -1), ((2, 2), 5))),
    OpCase("triu", unary(no_args, 2)),
    OpCase("triu", on(((3, 4), -2), ((2, 4, 3), 2))),
    OpCase("diagonal", on(((3, 3),), ((3, 4), 1), ((4, 3), -2), ((2, 3, 4), 0, 2, 0), ((2, 3, 3), -1, -1, -2),
                          ((2, 2), 5))),
    OpCase("diag", on(((3,),), ((2,), 1), ((3,), -2), ((3, 4),), ((4, 3), -1))),
]

test_matches_torch, _ = parametrize_cases(CASES)
test_gradcheck = gradcheck_cases(CASES)


# ---- double backward ----------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda x: x.permute(1, 0, 2).flip(0).roll(1, 2) * x.transpose(0, 1),
    lambda x: ember.cat([x, x * x], 1).repeat(2, 1, 1) ** 2,
    lambda x: F.pad(x, (2, 1), mode="reflect") ** 2,
    lambda x: F.pad(x, (1, -1, 1, 0), value=0.5) ** 2,
    lambda x: ember.diag(x[0].diagonal(1)) ** 2 + x.diagonal(0, 1, 2).sum(),
    lambda x: x.tril(1) * x.triu(),
], ids=["permute-flip-roll", "cat-repeat", "pad-reflect", "pad-constant", "diagonal-diag", "tril-triu"])
def test_double_backward(fn):
    check_double_backward(fn, ember.randn(2, 3, 3, dtype=ember.float64, requires_grad=True))


# ---- views and copies ---------------------------------------------------------------------------

VIEWS = {
    "transpose": lambda x: x.transpose(0, 1), "permute": lambda x: x.permute(1, 2, 0), "T": lambda x: x[1].T,
    "mT": lambda x: x.mT, "squeeze": lambda x: x[:, :1].squeeze(1), "unsqueeze": lambda x: x.unsqueeze(1),
    "flatten": lambda x: x.flatten(1), "unflatten": lambda x: x.unflatten(2, (2, 2)),
    "narrow": lambda x: x.narrow(1, 1, 2), "select": lambda x: x.select(2, 3),
    "split": lambda x: x.split(2, 1)[1], "chunk": lambda x: x.chunk(2, 2)[0],
    "unbind": lambda x: x.unbind(0)[1], "diagonal": lambda x: x.diagonal(0, 1, 2),
    "movedim": lambda x: x.movedim(0, 2),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_shares_memory_and_version_counter(name):
    base = ember.arange(24.0).reshape(2, 3, 4)
    expected = torch.arange(24.0).reshape(2, 3, 4)
    view = VIEWS[name](base)
    version = base._version_number
    with ember.no_grad():
        view.mul_(-1)
    VIEWS[name](expected).mul_(-1)
    np.testing.assert_array_equal(base.numpy(), expected.numpy())
    assert base._version_number == view._version_number == version + 1


@pytest.mark.parametrize("name,fn", [("flip", lambda x: x.flip(0)), ("roll", lambda x: x.roll(1, 0)),
                                     ("repeat", lambda x: x.repeat(1, 1)), ("cat", lambda x: ember.cat([x])),
                                     ("pad", lambda x: F.pad(x, (0, 0))),
                                     ("tril", lambda x: x.tril()), ("diag", lambda x: ember.diag(x))])
def test_copying_ops_do_not_alias(name, fn):
    base = ember.arange(9.0).reshape(3, 3)
    out = fn(base)
    with ember.no_grad():
        out.add_(100)
    np.testing.assert_array_equal(base.numpy(), np.arange(9.0).reshape(3, 3))
    assert out._version is not base._version


def test_saved_tensor_modified_through_a_view_makes_backward_raise():
    x = ember.randn(3, 4, requires_grad=True)
    y = x.exp()                     # saves its output
    with ember.no_grad():
        y.transpose(0, 1).narrow(0, 1, 2).mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_gradient_flows_through_views_of_views():
    x = ember.randn(2, 3, 4, dtype=ember.float64, requires_grad=True)
    t = torch.tensor(x.detach().numpy(), requires_grad=True)
    for lib, a in ((ember, x), (torch, t)):
        parts = a.permute(2, 0, 1).unbind(0)
        total = lib.stack(parts[::2], 1).sum() + (parts[1] * parts[3]).sum()
        (total + a.mT.diagonal(0, 1, 2).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_dims_arguments_take_torch_call_forms():
    x = ember.arange(6.0).reshape(1, 2, 3)
    t = torch.arange(6.0).reshape(1, 2, 3)
    for call in (lambda lib, a: lib.flip(a, dims=(0, 2)), lambda lib, a: a.flip(2, 1),
                 lambda lib, a: a.flip(-1),
                 lambda lib, a: lib.permute(a, (2, 0, 1)), lambda lib, a: a.permute(2, 0, 1),
                 lambda lib, a: a.permute(dims=[1, 2, 0]), lambda lib, a: lib.tile(a, dims=(2, 1)),
                 lambda lib, a: a.tile(2, 1, 1, 1), lambda lib, a: lib.movedim(a, source=0, destination=-1)):
        np.testing.assert_array_equal(call(ember, x).numpy(), call(torch, t).numpy())


def test_iterating_a_tensor_gives_rows():
    x = ember.arange(6.0).reshape(3, 2)
    assert [row.tolist() for row in x] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


def test_in_place_tril_and_triu():
    x = ember.ones(3, 3)
    x.tril_(-1)
    assert x.tolist() == torch.ones(3, 3).tril_(-1).tolist()
    x = ember.ones(2, 3)
    x.triu_(1)
    assert x.tolist() == torch.ones(2, 3).triu_(1).tolist()


def test_cat_promotes_dtypes_like_torch():
    out = ember.cat([ember.ones(2, dtype=ember.int64), ember.ones(3, dtype=ember.float32)])
    assert out.dtype == ember.float32 and out.tolist() == [1.0] * 5
    ints = [ember.ones(2, dtype=ember.int32), ember.ones(1, dtype=ember.int64)]
    assert ember.cat(ints).dtype == ember.int64


def test_chunk_on_empty_dim_gives_requested_number_of_pieces():
    pieces, reference = ember.zeros(0, 2).chunk(3), torch.zeros(0, 2).chunk(3)
    assert [tuple(p.shape) for p in pieces] == [tuple(p.shape) for p in reference] == [(0, 2)] * 3


def test_pad_reflect_gradient_accumulates_mirrored_copies():
    x = ember.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    F.pad(x, (2, 2), mode="reflect").sum().backward()
    # padded row: 3 2 | 1 2 3 | 2 1 -> element 1 appears twice, 2 three times, 3 twice
    assert x.grad.tolist() == [[2.0, 3.0, 2.0]]


def test_pad_modes_work_beyond_torch_dims():
    x = ember.arange(4.0)
    assert F.pad(x, (2, 1), mode="reflect").tolist() == [2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]
    assert F.pad(x, (1, 2), mode="circular").tolist() == [3.0, 0.0, 1.0, 2.0, 3.0, 0.0, 1.0]


# ---- errors -------------------------------------------------------------------------------------

ERRORS = [
    ("cat sizes", lambda: ember.cat([ember.ones(2, 3), ember.ones(2, 4)]), RuntimeError,
     r"cat\(\): Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for "
     r"tensor number 1"),
    ("cat ranks", lambda: ember.cat([ember.ones(2, 3), ember.ones(3)]), RuntimeError,
     r"cat\(\): Tensors must have same number of dimensions: got 2 and 1"),
    ("cat 0-d", lambda: ember.cat([ember.ones(2), ember.tensor(1.0)]), RuntimeError,
     r"cat\(\): zero-dimensional tensor \(at position 1\) cannot be concatenated"),
    ("cat empty list", lambda: ember.cat([]), RuntimeError, r"cat\(\): expected a non-empty list of Tensors"),
    ("cat non-tensor", lambda: ember.cat([ember.ones(2), 3]), TypeError,
     r"cat\(\): expected Tensor as element 1 in argument 0, but got int"),
    ("cat dim", lambda: ember.cat([ember.ones(2, 3)], dim=2), IndexError, r"cat: Dimension out of range"),
    ("stack shapes", lambda: ember.stack([ember.ones(2, 3), ember.ones(2, 4)]), RuntimeError,
     r"stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 and \[2, 4\] at entry 1"),
    ("permute length", lambda: ember.ones(2, 3).permute(1, 0, 2), RuntimeError,
     r"permute\(\): number of dims don't match .*shape \(2, 3\)"),
    ("permute duplicate", lambda: ember.ones(2, 3).permute(1, -1), RuntimeError,
     r"permute\(\): duplicate dims are not allowed \(dims \[1, -1\]\)"),
    ("transpose dim", lambda: ember.ones(2, 3).transpose(0, 2), IndexError,
     r"transpose: Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    ("unsqueeze dim", lambda: ember.ones(2, 3).unsqueeze(4), IndexError,
     r"unsqueeze: Dimension out of range"),
    ("squeeze dim", lambda: ember.ones(2, 1).squeeze(2), IndexError, r"squeeze: Dimension out of range"),
    ("flatten order", lambda: ember.ones(2, 3, 4).flatten(2, 1), RuntimeError,
     r"flatten\(\) has invalid args: start_dim \(2\) cannot come after end_dim \(1\)"),
    ("unflatten sizes", lambda: ember.ones(3, 5).unflatten(1, (2, 2)), RuntimeError,
     r"unflatten: Provided sizes \[2, 2\] don't multiply up to the size of dim 1 \(5\)"),
    ("movedim lengths", lambda: ember.ones(2, 3).movedim((0, 1), 0), RuntimeError,
     r"movedim: Invalid source or destination dims"),
    ("movedim repeated", lambda: ember.ones(2, 3).movedim((0, -2), (0, 1)), RuntimeError,
     r"movedim: repeated dim in `source` \(\[0, -2\]\)"),
    ("repeat too few", lambda: ember.ones(2, 3).repeat(2), RuntimeError,
     r"repeat: Number of dimensions of repeat dims \(1\) can not be smaller than number of dimensions of "
     r"tensor \(2\)"),
    ("flip repeated", lambda: ember.ones(2, 3).flip(0, -2), RuntimeError,
     r"flip: dim .* appears multiple times"),
    ("roll lengths", lambda: ember.ones(2, 3).roll((1, 2), 0), RuntimeError,
     r"roll: shifts and dimensions must align. shifts: 2, dims: 1"),
    ("split sizes", lambda: ember.ones(5).split([2, 2]), RuntimeError,
     r"split_with_sizes expects split_sizes to sum exactly to 5 .*split_sizes=\[2, 2\]"),
    ("split zero", lambda: ember.ones(5).split(0), RuntimeError,
     r"split_size can only be 0 if dimension size is 0"),
    ("chunk zero", lambda: ember.ones(5).chunk(0), RuntimeError,
     r"chunk expects `chunks` to be greater than 0, got: 0"),
    ("unbind 0-d", lambda: ember.tensor(1.0).unbind(), RuntimeError,
     r"unbind\(\) cannot be applied to a 0-dim tensor"),
    ("narrow length", lambda: ember.ones(6).narrow(0, 4, 3), RuntimeError,
     r"narrow\(\): start \(4\) \+ length \(3\) exceeds dimension size \(6\)"),
    ("narrow start", lambda: ember.ones(6).narrow(0, 7, 0), IndexError,
     r"narrow\(\): start out of range \(expected to be in range of \[-6, 6\], but got 7\)"),
    ("select index", lambda: ember.ones(3, 4).select(0, 5), IndexError,
     r"select\(\): index 5 out of range for tensor of size \[3, 4\] at dimension 0"),
    ("pad odd", lambda: F.pad(ember.ones(2, 3), (1,)), RuntimeError,
     r"pad: Padding length must be divisible by 2"),
    ("pad too long", lambda: F.pad(ember.ones(2, 3), (1,) * 6), RuntimeError,
     r"pad: Padding length should be less than or equal to two times the input dimension"),
    ("pad negative size", lambda: F.pad(ember.ones(2, 3), (-2, -2)), RuntimeError,
     r"pad: The input size 3, plus negative padding -2 and -2 resulted in a negative output size"),
    ("pad reflect too large", lambda: F.pad(ember.ones(2, 3), (3, 1), mode="reflect"),
     RuntimeError, r"pad: padding \(3, 1\) at dimension 1 of input \[2, 3\] is too large for mode 'reflect'"),
    ("pad circular too large", lambda: F.pad(ember.ones(2, 3), (4, 0), mode="circular"),
     RuntimeError, r"pad: padding \(4, 0\) at dimension 1 of input \[2, 3\] is too large for mode "
                   r"'circular'"),
    ("pad mode", lambda: F.pad(ember.ones(2, 3), (1, 1), mode="mirror"), NotImplementedError,
     r"pad: Unrecognised padding mode 'mirror'"),
    ("pad value with reflect", lambda: F.pad(ember.ones(2, 3), (1, 1), mode="reflect", value=1.0),
     RuntimeError, r'pad: Padding mode "reflect" doesn\'t take in value argument'),
    ("tril 1-d", lambda: ember.ones(3).tril(), RuntimeError,
     r"tril: input tensor must have at least 2 dimensions"),
    ("diagonal same dims", lambda: ember.ones(3, 3).diagonal(0, 1, -1), RuntimeError,
     r"diagonal\(\): diagonal dimensions cannot be identical 1, -1"),
    ("diag 3-d", lambda: ember.diag(ember.ones(2, 2, 2)), RuntimeError,
     r"diag\(\): Supports 1D or 2D tensors. Got 3D"),
    ("mT of 1-d", lambda: ember.ones(3).mT, RuntimeError,
     r"tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor"),
]


@pytest.mark.parametrize("name,call,error,pattern", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(name, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_torch_agrees_these_inputs_are_errors():
    """The cases above that PyTorch also rejects (so the check is not stricter than PyTorch)."""
    for call in (lambda: torch.cat([torch.ones(2, 3), torch.ones(2, 4)]),
                 lambda: torch.ones(6).narrow(0, 4, 3), lambda: torch.ones(5).split([2, 2]),
                 lambda: TF.pad(torch.ones(2, 3), (3, 1), mode="reflect"),
                 lambda: torch.ones(2, 3).repeat(2), lambda: torch.ones(3, 5).unflatten(1, (2, 2))):
        with pytest.raises((RuntimeError, IndexError)):
            call()
