"""Reductions against PyTorch and finite differences, plus their semantics: ties, zeros, dtypes,
return types, second derivatives and error messages."""
import math

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradgradcheck
from op_check import OpCase, parametrize_cases, random_shape, randn


# ---- samples ------------------------------------------------------------------------------------

def distinct(rng, dtype, *shape):
    """No two values, nor two magnitudes, alike: extrema (and max |x|) have a derivative there."""
    n = int(np.prod(shape, dtype=np.int64))
    magnitudes = (rng.permutation(n) + 1) * 0.25 + rng.uniform(0, 0.05, n)
    return (magnitudes * rng.choice([-1, 1], n)).reshape(shape).astype(dtype)


def nonzero(rng, dtype, *shape):
    """Magnitudes in [0.5, 1.5] with random signs: products and |x|^p stay tame, no zeros."""
    return (rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)


def with_zeros(rng, dtype, *shape):
    """``nonzero`` with about a third of the elements set to 0 (slices with one and several zeros)."""
    x = nonzero(rng, dtype, *shape)
    return np.where(rng.random(shape) < 0.35, 0, x).astype(dtype)


def large(rng, dtype, *shape):
    """Values far beyond exp's range in float32 (|x| up to ~150): logsumexp must stay finite."""
    return (rng.standard_normal(shape) * 50).astype(dtype)


def concat(*sample_fns):
    return lambda rng, dtype: [sample for fn in sample_fns for sample in fn(rng, dtype)]


def reduction_samples(make=randn, tuple_dims=True, none_dim=True, zero_dim=True):
    """``[x, dim, keepdim]``: dims as int (negative too), tuple and None, keepdim both ways, 0-d and
    size-1 dims."""
    def samples(rng, dtype):
        a, b, c = random_shape(rng, 3, 2, 4)
        cases = [((a,), 0, False), ((a, b), -1, True), ((a, 1, c), 1, False), ((a, b, c), -3, True),
                 ((1, b), 0, False), ((a, b, c), 1, False)]
        if zero_dim:
            cases += [((), 0, False), ((), -1, True)]
        if tuple_dims:
            cases += [((a, b, c), (0, 2), False), ((a, b, c), (-1, 1), True), ((a, b), (0, -1), False)]
        if none_dim:
            cases += [((a, b), None, False), ((a, 1, c), None, True)]
        return [[make(rng, dtype, *shape), dim, keepdim] for shape, dim, keepdim in cases]
    return samples


def moment_samples(rng, dtype):
    """``[x, dim, keepdim]`` whose reductions span at least 2 elements (var's divisor stays > 0)."""
    a, b, c = random_shape(rng, 3, 2, 4)
    cases = [((a,), 0, False), ((a, b), -1, True), ((a, 1, c), (1, 2), False), ((a, b, c), (0, -1), True),
             ((a, b), None, False), ((a, b, c), None, True), ((a, b, c), 1, False)]
    return [[randn(rng, dtype, *shape), dim, keepdim] for shape, dim, keepdim in cases]


def scan_samples(make=randn):
    """``[x, dim]`` for cumsum and cumprod."""
    def samples(rng, dtype):
        a, b, c = random_shape(rng, 3, 2, 5)
        return [[make(rng, dtype, *shape), dim] for shape, dim in
                [((), 0), ((a,), 0), ((a, b), -1), ((a, b), 0), ((a, 1, c), 1), ((a, b, c), -1)]]
    return samples


def extremum_samples(rng, dtype):
    """``max``/``min`` in their three forms: ``[x]``, ``[x, dim, keepdim]``, ``[input, other]``."""
    a, b, c = random_shape(rng, 3, 2, 4)
    full = [[distinct(rng, dtype, *s)] for s in [(), (a,), (a, b, c)]]
    along = [[distinct(rng, dtype, *s), dim, keepdim] for s, dim, keepdim in
             [((), 0, False), ((a,), -1, True), ((a, b), 1, False), ((a, b, c), 0, True),
              ((a, 1, c), 1, False)]]
    x = distinct(rng, dtype, a, b)
    binary = [[x, x + np.where(rng.random(x.shape) < 0.5, -0.1, 0.1).astype(dtype)]]
    return full + along + binary


def prod_samples(rng, dtype):
    """``[x, dim, keepdim]`` with dim an int or None (prod's signature), with and without zeros."""
    a, b, c = random_shape(rng, 3, 2, 4)
    cases = [((), None, False), ((), 0, True), ((a,), None, False), ((a, b), -1, True), ((a, b, c), 1, False),
             ((a, 1, c), 1, True)]
    one_zero = np.array([2.0, 0.0, 3.0], dtype)
    two_zeros = np.array([[0.0, 0.0, 3.0], [1.0, 2.0, 0.0]], dtype)
    return [[make(rng, dtype, *shape), dim, keepdim] for make in (nonzero, with_zeros)
            for shape, dim, keepdim in cases] + [[one_zero, None, False], [two_zeros, 1, False]]


_OMIT = object()


def dims_op(module, name, none_dim=_OMIT):
    """``f(x, dim, keepdim, **kwargs)`` calling ``module.name``: dim=None becomes ``none_dim``, the
    op's spelling of 'all dims' (by default, leaving out both dim and keepdim)."""
    fn = getattr(module, name)

    def op(x, dim, keepdim, **kwargs):
        if dim is None and none_dim is _OMIT:
            return fn(x, **kwargs)
        return fn(x, none_dim if dim is None else dim, keepdim=keepdim, **kwargs)
    return op


def torch_and_ember(name, **kw):
    return dict(ember_fn=dims_op(ember, name, **kw), torch_fn=dims_op(torch, name, **kw))


def norm_case(p, make=nonzero):
    return OpCase("norm", reduction_samples(make), kwargs={"p": p},
                  ember_fn=lambda x, dim, keepdim, p: ember.norm(x, p, dim, keepdim),
                  torch_fn=lambda x, dim, keepdim, p: torch.norm(x, p, dim, keepdim))


CASES = [
    OpCase("sum", reduction_samples()),
    OpCase("mean", reduction_samples()),
    OpCase("sum_to_size", lambda rng, dtype: [[randn(rng, dtype, *shape), size] for shape, size in
                                              [((3, 4), (1, 4)), ((2, 3, 4), (3, 1)), ((3,), (1,)),
                                               ((2, 3), (2, 3))]],
           torch_fn=lambda x, size: x.sum_to_size(size)),
    OpCase("prod", prod_samples, **torch_and_ember("prod")),
    OpCase("max", extremum_samples),
    OpCase("min", extremum_samples),
    OpCase("amax", reduction_samples(distinct), **torch_and_ember("amax", none_dim=())),
    OpCase("amin", reduction_samples(distinct), **torch_and_ember("amin", none_dim=())),
    OpCase("argmax", reduction_samples(distinct, tuple_dims=False), grad=False),
    OpCase("argmin", reduction_samples(distinct, tuple_dims=False), grad=False),
    OpCase("var", moment_samples, **torch_and_ember("var", none_dim=None)),
    OpCase("var", moment_samples, kwargs={"correction": 0}, **torch_and_ember("var", none_dim=None)),
    OpCase("std", moment_samples, **torch_and_ember("std", none_dim=None)),
    OpCase("std", moment_samples, kwargs={"correction": 0.5}, **torch_and_ember("std", none_dim=None)),
    OpCase("var_mean", moment_samples, **torch_and_ember("var_mean", none_dim=None)),
    OpCase("std_mean", moment_samples, kwargs={"correction": 0},
           **torch_and_ember("std_mean", none_dim=None)),
    OpCase("logsumexp", concat(reduction_samples(none_dim=False), reduction_samples(large, none_dim=False))),
    norm_case(2), norm_case("fro"), norm_case(1), norm_case(3), norm_case(0.5), norm_case(-1.5),
    norm_case(math.inf, distinct), norm_case(-math.inf, distinct), norm_case(0),
    OpCase("cumsum", scan_samples()),
    OpCase("cumprod", concat(scan_samples(nonzero), scan_samples(with_zeros))),
    OpCase("all", reduction_samples(with_zeros), grad=False),
    OpCase("any", reduction_samples(lambda rng, dtype, *s: np.where(rng.random(s) < 0.8, 0, 1).astype(dtype)),
           grad=False),
    OpCase("count_nonzero", lambda rng, dtype: [[with_zeros(rng, dtype, *s), dim] for s, dim in
                                                [((), None), ((5,), 0), ((3, 4), -1), ((2, 3, 4), (0, 2)),
                                                 ((3, 4), None)]], grad=False),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


def pair(array, requires_grad=True):
    """The same float64 values as an ember and a torch tensor."""
    array = np.asarray(array, dtype=np.float64)
    return (ember.from_numpy(array.copy()).requires_grad_(requires_grad),
            torch.from_numpy(array.copy()).requires_grad_(requires_grad))


def assert_grad(fn, values, expected):
    """d sum(fn(x)) / dx in ember (of the first output if fn returns several) equals ``expected``."""
    x = ember.tensor(values, dtype=ember.float64, requires_grad=True)
    out = fn(x)
    (out[0] if isinstance(out, tuple) else out).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-15)


# ---- extrema: ties, indices, return types -------------------------------------------------------

def test_full_max_and_amax_split_the_gradient_among_ties():
    assert_grad(ember.max, [1.0, 3.0, 3.0], [0.0, 0.5, 0.5])
    assert_grad(ember.min, [1.0, 1.0, 1.0, 3.0], [1 / 3, 1 / 3, 1 / 3, 0.0])
    assert_grad(lambda x: ember.amax(x, 1), [[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]],
                [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    assert_grad(lambda x: ember.amin(x, (0, 1)), [[2.0, 1.0], [1.0, 1.0]], [[0.0, 1 / 3], [1 / 3, 1 / 3]])


def test_max_along_dim_sends_the_gradient_to_the_first_index_only():
    values = [[1.0, 3.0, 3.0], [4.0, 4.0, 0.0]]
    assert_grad(lambda x: ember.max(x, 1), values, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    e, t = pair(values)
    assert ember.max(e, 1).indices.tolist() == torch.max(t, 1).indices.tolist() == [1, 0]


def test_max_min_with_dim_return_values_and_int64_indices():
    x = ember.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    result = ember.max(x, dim=1, keepdim=True)
    assert isinstance(result, tuple) and result.values.shape == (2, 1)
    assert result.values.tolist() == [[5.0], [7.0]] and result.indices.tolist() == [[1], [0]]
    assert result.indices.dtype == ember.int64
    values, indices = x.min(0)
    assert values.tolist() == [1.0, 0.0, 2.0] and indices.tolist() == [0, 1, 0]
    assert "values=" in repr(result) and "indices=" in repr(result)
    assert ember.argmax(x).dtype == ember.argmin(x, 1).dtype == ember.int64
    assert ember.argmax(x, keepdim=True).shape == (1, 1) and ember.argmax(x).item() == 3


def test_max_of_two_tensors_is_maximum():
    a, b = ember.tensor([1.0, 5.0]), ember.tensor([3.0, 2.0])
    assert ember.max(a, b).tolist() == [3.0, 5.0] and a.min(b).tolist() == [1.0, 2.0]


def test_extrema_of_integers_and_nan():
    x = ember.tensor([[3, 9, 1], [4, 4, 8]])
    assert ember.max(x).item() == 9 and ember.max(x).dtype == ember.int64
    assert ember.amin(x, 1).tolist() == [1, 4]
    nan = ember.tensor([1.0, float("nan"), 2.0])
    assert math.isnan(ember.max(nan).item()) and ember.argmax(nan).item() == 1


# ---- products -----------------------------------------------------------------------------------

def test_prod_gradient_with_zeros_is_the_product_of_the_others():
    assert_grad(ember.prod, [2.0, 0.0, 3.0], [0.0, 6.0, 0.0])
    assert_grad(ember.prod, [0.0, 0.0, 3.0], [0.0, 0.0, 0.0])
    assert_grad(lambda x: ember.prod(x, 0), [[2.0, 0.0], [0.0, 5.0], [4.0, 3.0]],
                [[0.0, 15.0], [8.0, 0.0], [0.0, 0.0]])
    assert_grad(ember.prod, [0.0, 1.0], [1.0, 0.0])


def test_cumprod_gradient_with_zeros_matches_torch():
    values = [[2.0, 0.0, 3.0, 0.0, 5.0], [1.0, 2.0, 3.0, 0.0, 4.0], [0.5, 2.0, 3.0, 4.0, 5.0]]
    e, t = pair(values)
    g = np.random.default_rng(0).standard_normal((3, 5))
    (ember.cumprod(e, 1) * ember.from_numpy(g)).sum().backward()
    (torch.cumprod(t, 1) * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_second_derivative_at_zeros_raises_clearly():
    for op in (lambda x: ember.prod(x), lambda x: ember.cumprod(x, 0)):
        x = ember.tensor([2.0, 0.0, 3.0], dtype=ember.float64, requires_grad=True)
        g, = ember.autograd.grad(op(x).sum(), [x], create_graph=True)
        with pytest.raises(RuntimeError, match="second derivative at an input that contains zeros"):
            ember.autograd.grad(g.sum(), [x])


def test_integer_inputs_accumulate_in_int64():
    for dtype in (ember.int32, ember.uint8, ember.bool):
        x = ember.ones(3, dtype=dtype)
        assert ember.prod(x).dtype == ember.cumsum(x, 0).dtype == ember.cumprod(x, 0).dtype == ember.int64
        assert ember.sum(x).dtype == ember.int64
    assert ember.cumsum(ember.tensor([1, 2, 3]), 0, dtype=ember.float64).dtype == ember.float64
    assert ember.prod(ember.tensor([2.0, 3.0]), dtype=ember.float64).dtype == ember.float64
    assert ember.logsumexp(ember.tensor([1, 2]), 0).dtype == ember.float32


# ---- statistics ---------------------------------------------------------------------------------

def test_var_std_signatures_match_torch():
    e, t = pair(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=False)
    for args, kwargs in [((False,), {}), ((True,), {}), ((1, False, True), {}), ((1,), {"keepdim": True}),
                         ((), {"dim": (0, 1), "correction": 0.5}), ((0,), {"unbiased": False})]:
        for name in ("var", "std"):
            np.testing.assert_allclose(getattr(ember, name)(e, *args, **kwargs).numpy(),
                                       getattr(torch, name)(t, *args, **kwargs).numpy(), rtol=1e-12)
    with pytest.raises(TypeError, match="var.*correction or the legacy unbiased"):
        ember.var(e, 0, True, correction=1)
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        ember.std(ember.tensor([1, 2, 3]))


def test_var_with_no_degrees_of_freedom_warns_and_gives_nan_like_torch():
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        result = ember.var(ember.tensor([1.0]))
    assert math.isnan(result.item())
    with pytest.warns(UserWarning):
        assert ember.var(ember.tensor([1.0, 2.0, 4.0]), 0, correction=3).item() == math.inf


def test_std_of_a_constant_has_zero_gradient():
    assert_grad(ember.std, [2.0, 2.0, 2.0], [0.0, 0.0, 0.0])
    assert_grad(lambda x: ember.std(x, 1), [[1.0, 1.0], [1.0, 3.0]],
                [[0.0, 0.0], [-1 / math.sqrt(2), 1 / math.sqrt(2)]])


def test_logsumexp_is_stable_and_handles_infinities():
    x = ember.tensor([1000.0, 1000.0])
    assert ember.logsumexp(x, 0).item() == pytest.approx(1000 + math.log(2))
    assert ember.logsumexp(ember.tensor([-1000.0, -1000.0]), 0).item() == pytest.approx(-1000 + math.log(2))
    assert ember.logsumexp(ember.tensor([-math.inf, -math.inf]), 0).item() == -math.inf
    assert ember.logsumexp(ember.tensor([math.inf, 1.0]), 0).item() == math.inf
    assert_grad(lambda x: ember.logsumexp(x, 0), [1000.0, 1000.0], [0.5, 0.5])


# ---- norms --------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [2, "fro", 3, 1.5, 1, 0.5, -1, math.inf])
def test_norm_gradient_at_zero_is_zero_not_nan(p):
    assert_grad(lambda x: ember.norm(x, p), [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    e, t = pair([[0.0, 0.0], [0.0, 3.0]])
    ember.norm(e, p, 1).sum().backward()
    torch.norm(t, p, 1).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())


def test_norm_arguments_and_errors():
    x = ember.tensor([[3.0, -4.0], [0.0, 1.0]])
    assert ember.norm(x).item() == pytest.approx(math.sqrt(26))
    assert x.norm(1, dim=1).tolist() == [7.0, 1.0]
    assert ember.norm(x, float("inf")).item() == 4.0 and ember.norm(x, 0).item() == 3.0
    assert ember.norm(x, dtype=ember.float64).dtype == ember.float64
    with pytest.raises(NotImplementedError, match="nuclear norm"):
        ember.norm(x, "nuc")
    with pytest.raises(RuntimeError, match="order 'foo' not supported"):
        ember.norm(x, "foo")
    with pytest.raises(RuntimeError, match="'fro' norm takes at most 2 dims"):
        ember.norm(ember.ones(2, 2, 2), "fro", (0, 1, 2))
    with pytest.raises(RuntimeError, match="norm\\(\\): expected a floating point tensor.*int64"):
        ember.norm(ember.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="inf norm over an empty dim"):
        ember.norm(ember.ones(0), math.inf)


# ---- second derivatives -------------------------------------------------------------------------

def _leaf(rng, *shape, make=None):
    values = make(rng, np.float64, *shape) if make else rng.standard_normal(shape)
    return ember.from_numpy(values).requires_grad_()


@pytest.mark.parametrize("name,fn,shape,make", [
    ("logsumexp", lambda x: ember.logsumexp(x, 1), (3, 4), None),
    ("logsumexp all", lambda x: ember.logsumexp(x, (0, 1), keepdim=True), (2, 3), None),
    ("logsumexp 0-d", lambda x: ember.logsumexp(x, 0), (), None),
    ("var", lambda x: ember.var(x, 0), (3, 4), None),
    ("var all", lambda x: ember.var(x, correction=0), (3, 2), None),
    ("std", lambda x: ember.std(x, (0, 1)), (3, 4), None),
    ("prod", lambda x: ember.prod(x, 1), (3, 4), nonzero),
    ("prod all", ember.prod, (2, 3), nonzero),
    ("norm", lambda x: ember.norm(x, dim=1), (3, 4), None),
    ("norm all", ember.norm, (2, 3), None),
    ("norm p=3", lambda x: ember.norm(x, 3, 0, keepdim=True), (3, 4), nonzero),
    ("norm p=0.5", lambda x: ember.norm(x, 0.5, 1), (3, 4), nonzero),
    ("norm inf", lambda x: ember.norm(x, math.inf, 1), (3, 4), distinct),
    ("amax", lambda x: ember.amax(x, 1, keepdim=True) * ember.amin(x, 0, keepdim=True), (3, 4), distinct),
    ("max dim", lambda x: ember.max(x, 0).values * ember.min(x, 0).values, (3, 4), distinct),
    ("cumsum", lambda x: ember.cumsum(x, 1) * x, (3, 4), None),
    ("cumprod", lambda x: ember.cumprod(x, 0), (3, 4), nonzero),
])
def test_gradgradcheck(name, fn, shape, make):
    x = _leaf(np.random.default_rng(len(name)), *shape, make=make)
    assert gradgradcheck(fn, [x], atol=1e-6, rtol=1e-4)


# ---- scans, logical reductions, dims and errors -------------------------------------------------

def test_cumsum_in_place():
    x = ember.tensor([[1, 2], [3, 4]], dtype=ember.int32)
    assert x.cumsum_(0) is x and x.tolist() == [[1, 2], [4, 6]] and x.dtype == ember.int32
    leaf = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = leaf * 1
    y.cumsum_(0)
    assert y.tolist() == [1.0, 3.0, 6.0]
    y.sum().backward()
    assert leaf.grad.tolist() == [3.0, 2.0, 1.0]
    z = ember.tensor([1.0, 2.0, 3.0])
    assert z.cumprod_(-1).tolist() == [1.0, 2.0, 6.0]


def test_all_any_count_nonzero_dtypes():
    x = ember.tensor([[1.0, 0.0], [2.0, 3.0]])
    assert ember.all(x).dtype == ember.bool and ember.any(x, 1).tolist() == [True, True]
    assert ember.all(x, (0, 1), keepdim=True).shape == (1, 1) and x.all(1).tolist() == [False, True]
    assert ember.all(ember.ones(2, dtype=ember.uint8)).dtype == ember.uint8
    assert ember.count_nonzero(x).dtype == ember.int64 and ember.count_nonzero(x, 0).tolist() == [2, 1]


def test_empty_dim_list_reduces_every_dim_like_torch():
    e, t = pair(np.arange(6.0).reshape(2, 3), requires_grad=False)
    for name in ("sum", "mean", "amax", "var"):
        assert getattr(ember, name)(e, ()).item() == pytest.approx(getattr(torch, name)(t, ()).item())


def test_reduction_errors_name_the_op():
    x = ember.ones(2, 3)
    with pytest.raises(IndexError, match=r"amax: Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\], but got 2\)"):
        ember.amax(x, 2)
    with pytest.raises(IndexError, match="cumsum: Dimension out of range"):
        ember.cumsum(x, -3)
    with pytest.raises(RuntimeError, match=r"logsumexp: dim \(0, -2\) appears multiple times"):
        ember.logsumexp(x, (0, -2))
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified for "
                                           r"input.numel\(\) == 0"):
        ember.max(ember.ones(0))
    with pytest.raises(IndexError, match=r"min\(\): Expected reduction dim 0 to have non-zero size"):
        ember.min(ember.ones(0, 3), 0)
    with pytest.raises(IndexError, match=r"amax\(\): Expected reduction dim 1 to have non-zero size"):
        ember.amax(ember.ones(2, 0), 1)
    with pytest.raises(TypeError, match=r"max\(\): argument 'dim' must be int, not tuple"):
        ember.max(x, (0, 1))
    with pytest.raises(RuntimeError, match=r"argmax\(\): does not support bool input"):
        ember.argmax(ember.ones(2, dtype=ember.bool))
    assert ember.amax(ember.ones(0, 3), 1).shape == (0,)


def test_reductions_record_their_node_and_leave_integer_results_without_grad():
    x = ember.randn(3, 4, requires_grad=True)
    assert ember.logsumexp(x, 1).grad_fn.name() == "LogSumExpBackward"
    assert ember.std(x).grad_fn.name() == "StdBackward"
    assert not ember.argmax(x).requires_grad and not ember.max(x, 1).indices.requires_grad
    assert ember.max(x, 1).values.requires_grad

