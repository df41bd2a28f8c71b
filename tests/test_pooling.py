"""max/avg/adaptive pools in 1, 2 and 3 dims against PyTorch (values, indices, gradients),
finite differences and second derivatives; the pooling modules; error messages."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn as enn
import ember.nn.functional as F
from op_check import OpCase, assert_close, parametrize_cases, randn


def pool_samples(n, low=4, high=7):
    """Inputs of an n-d pool: a batch of 2 with odd and even sizes, a batch of 1, and unbatched."""
    def samples(rng, dtype):
        def sizes():
            return tuple(int(s) for s in rng.integers(low, high + 1, n))
        return [[randn(rng, dtype, 2, 2, *sizes())], [randn(rng, dtype, 1, 3, *sizes())],
                [randn(rng, dtype, 2, *sizes())]]
    return samples


def case(name, low=4, high=7, **kwargs):
    """An OpCase of the pool ``name`` with its samples; ``kwargs`` go to the op."""
    return OpCase(name, pool_samples(int(name[-2]), low, high), ember_fn=getattr(F, name),
                  torch_fn=getattr(TF, name), kwargs=kwargs)


CASES = [
    case("max_pool1d", kernel_size=2),
    case("max_pool1d", kernel_size=3, stride=1, padding=1, dilation=2, return_indices=True),
    case("max_pool1d", kernel_size=3, stride=2, ceil_mode=True, return_indices=True),
    case("max_pool2d", kernel_size=2),
    case("max_pool2d", kernel_size=3, stride=2, padding=1, return_indices=True),
    case("max_pool2d", kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), ceil_mode=True,
         return_indices=True),
    case("max_pool2d", kernel_size=2, stride=3, ceil_mode=True),
    case("max_pool2d", kernel_size=1, stride=2),
    case("max_pool3d", kernel_size=2, low=2, high=4, return_indices=True),
    case("max_pool3d", kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0), ceil_mode=True, low=3, high=4),
    case("avg_pool1d", kernel_size=2),
    case("avg_pool1d", kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    case("avg_pool2d", kernel_size=2),
    case("avg_pool2d", kernel_size=3, stride=2, padding=1),
    case("avg_pool2d", kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True, count_include_pad=False),
    case("avg_pool2d", kernel_size=3, stride=2, padding=1, ceil_mode=True),
    case("avg_pool2d", kernel_size=(2, 3), stride=1, padding=1, divisor_override=5),
    case("avg_pool3d", kernel_size=2, low=2, high=4),
    case("avg_pool3d", kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False, low=3, high=5),
    case("adaptive_avg_pool1d", output_size=3),
    case("adaptive_avg_pool1d", output_size=1),
    case("adaptive_avg_pool2d", output_size=(3, 2)),
    case("adaptive_avg_pool2d", output_size=1),
    case("adaptive_avg_pool2d", output_size=(None, 5)),
    case("adaptive_avg_pool2d", output_size=8),  # larger than the input: windows overlap
    case("adaptive_avg_pool3d", output_size=(2, 3, 1), low=2, high=4),
    case("adaptive_max_pool1d", output_size=3, return_indices=True),
    case("adaptive_max_pool2d", output_size=(3, 2), return_indices=True),
    case("adaptive_max_pool2d", output_size=1),
    case("adaptive_max_pool2d", output_size=(5, None), return_indices=True),
    case("adaptive_max_pool2d", output_size=9, return_indices=True),
    case("adaptive_max_pool3d", output_size=(2, 3, 1), low=2, high=4, return_indices=True),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


def leaf(*shape, seed=0):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("call", [
    lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
    lambda x: F.max_pool1d(x.flatten(2), 4, stride=3),
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    lambda x: F.adaptive_avg_pool2d(x, (4, 3)),
    lambda x: F.adaptive_max_pool2d(x, (4, 2)),
], ids=["max_pool2d", "max_pool1d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"])
def test_double_backward(call):
    assert ember.autograd.gradgradcheck(lambda x: call(x) ** 2, [leaf(2, 2, 5, 5)])


def test_max_pool_ties_nan_and_infinities_like_torch():
    """The first maximum of a window gets the gradient; NaN wins; a window whose input is all -inf
    reports its first input position, not a padding one."""
    x = np.array([[[[1.0, 1.0, 0.0, 2.0], [1.0, np.nan, 2.0, 2.0], [-np.inf, -np.inf, 3.0, 3.0],
                    [-np.inf, -np.inf, 3.0, -1.0]]]])
    for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1)):
        ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        (ev, ei), (tv, ti) = F.max_pool2d(ex, return_indices=True, **kwargs), \
            TF.max_pool2d(tx, return_indices=True, **kwargs)
        assert_close(ev, tv, 0, 0, what=f"values {kwargs}")
        assert_close(ei, ti, 0, 0, what=f"indices {kwargs}")
        ev.sum().backward(), tv.sum().backward()
        assert_close(ex.grad, tx.grad, 0, 0, what=f"grad {kwargs}")
    everything_inf = np.full((1, 1, 3, 3), -np.inf)
    values, indices = F.max_pool2d(ember.tensor(everything_inf), 3, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(indices.numpy(), TF.max_pool2d(torch.tensor(everything_inf), 3, stride=2, padding=1,
                                                                 return_indices=True)[1].numpy())


def test_integer_pools_like_torch():
    x = np.arange(2 * 5 * 5).reshape(2, 1, 5, 5) * 3 - 70
    for name, args in (("max_pool2d", (3, 2, 1)), ("avg_pool2d", (2,)), ("avg_pool2d", (3, 2, 1, True))):
        out = getattr(F, name)(ember.tensor(x), *args)
        assert out.dtype == ember.int64
        np.testing.assert_array_equal(out.numpy(), getattr(TF, name)(torch.tensor(x), *args).numpy())


def test_empty_batch_and_grad_fn_names():
    x = ember.zeros(0, 3, 6, 6, requires_grad=True)
    assert F.max_pool2d(x, 2).shape == (0, 3, 3, 3) and F.avg_pool2d(x, 3, 2, 1).shape == (0, 3, 3, 3)
    assert F.adaptive_avg_pool2d(ember.randn(2, 3, 5, 5), (0, 2)).shape == (2, 3, 0, 2)
    y = ember.randn(1, 2, 6, 6, requires_grad=True)
    assert F.max_pool2d(y, 2).grad_fn.name() == "MaxPoolBackward"
    assert F.avg_pool2d(y, 2).grad_fn.name() == "AvgPoolBackward"
    assert F.adaptive_avg_pool2d(y, 4).grad_fn.name() == "AdaptiveAvgPoolBackward"


def test_functional_errors():
    x = ember.randn(2, 4, 8, 8)
    errors = [
        (lambda: F.max_pool2d(x, 3, padding=2),
         "max_pool2d: pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and "
         "dilation=1"),
        (lambda: F.avg_pool2d(x, 3, padding=2), "avg_pool2d: pad should be at most half of effective kernel size"),
        (lambda: F.max_pool2d(x, 9),
         r"max_pool2d: Given input size: \(4x8x8\). Calculated output size: \(4x0x0\). Output size is too small"),
        (lambda: F.avg_pool1d(ember.randn(2, 3, 8), 9),
         r"Given input size: \(3x8\). Calculated output size: \(3x0\). Output size is too small"),
        (lambda: F.max_pool2d(ember.randn(2, 3), 2),
         r"max_pool2d: non-empty 3D or 4D \(batch mode\) tensor expected for input, but got input of size \[2, 3\]"),
        (lambda: F.avg_pool2d(ember.randn(2, 0, 4, 4), 2), "avg_pool2d: non-empty 3D or 4D"),
        (lambda: F.max_pool2d(x, 2, stride=0), "max_pool2d: stride should not be zero"),
        (lambda: F.max_pool2d(x, 2, dilation=0), "max_pool2d: dilation should be greater than zero"),
        (lambda: F.max_pool2d(x, 0), "max_pool2d: kernel size should be greater than zero"),
        (lambda: F.max_pool2d(x, (2, 2, 2)), "max_pool2d: kernel_size must either be a single int, or a tuple of "
                                             "2 ints"),
        (lambda: F.avg_pool2d(x, 2, divisor_override=0), "avg_pool2d: divisor must be not zero"),
        (lambda: F.adaptive_avg_pool2d(ember.randn(2, 3), 2),
         r"adaptive_avg_pool2d\(\): Expected 3D or 4D tensor, but got \[2, 3\]"),
        (lambda: F.adaptive_max_pool2d(ember.randn(2, 3, 0, 4), 2),
         r"adaptive_max_pool2d\(\): Expected input to have non-zero size for non-batch dimensions, but input has "
         r"sizes \[2, 3, 0, 4\] with dimension 2 being empty"),
        (lambda: F.adaptive_avg_pool2d(x, (3, 4, 5)), "adaptive_avg_pool2d: output_size must be 2"),
    ]
    for call, message in errors:
        with pytest.raises(RuntimeError, match=message):
            call()
    with pytest.raises(NotImplementedError, match='"adaptive_avg_pool2d" not implemented for input of dtype '
                                                  'ember.int64'):
        F.adaptive_avg_pool2d(ember.tensor(np.ones((1, 2, 2), np.int64)), 1)


# ---- modules -------------------------------------------------------------------------------------

MODULES = [
    (lambda nn: nn.MaxPool2d(2), (2, 3, 7, 6)),
    (lambda nn: nn.MaxPool2d((3, 2), stride=(1, 2), padding=1, dilation=(2, 1), ceil_mode=True), (1, 2, 7, 5)),
    (lambda nn: nn.MaxPool1d(3, stride=2, padding=1), (2, 3, 9)),
    (lambda nn: nn.MaxPool3d(2, stride=1), (1, 2, 3, 4, 3)),
    (lambda nn: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True), (2, 3, 8, 7)),
    (lambda nn: nn.AvgPool2d(2, divisor_override=3), (3, 5, 4)),
    (lambda nn: nn.AvgPool1d(3, stride=1, padding=1), (2, 2, 6)),
    (lambda nn: nn.AvgPool3d(2, stride=(1, 2, 1)), (1, 2, 3, 4, 3)),
    (lambda nn: nn.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5)),
    (lambda nn: nn.AdaptiveAvgPool1d(4), (2, 3, 9)),
    (lambda nn: nn.AdaptiveAvgPool3d(2), (1, 2, 3, 5, 4)),
    (lambda nn: nn.AdaptiveMaxPool2d(3), (2, 3, 7, 8)),
    (lambda nn: nn.AdaptiveMaxPool1d(2), (2, 3, 5)),
    (lambda nn: nn.AdaptiveMaxPool3d((1, 2, 3)), (1, 2, 3, 5, 4)),
]


@pytest.mark.parametrize("index", range(len(MODULES)))
def test_module_matches_torch(index):
    make, shape = MODULES[index]
    em, tm = make(enn), make(torch.nn)
    assert repr(em) == repr(tm) and list(em.state_dict()) == [] == list(tm.state_dict())
    x = np.random.default_rng(index).standard_normal(shape).astype(np.float32)
    for train in (True, False):
        em.train(train), tm.train(train)
        ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        e_out, t_out = em(ex), tm(tx)
        assert_close(e_out, t_out, 1e-5, 1e-6, what="output")
        seed = np.random.default_rng(1).standard_normal(tuple(t_out.shape)).astype(np.float32)
        e_out.backward(ember.tensor(seed)), t_out.backward(torch.tensor(seed))
        assert_close(ex.grad, tx.grad, 1e-5, 1e-6, what="input grad")


def test_modules_return_indices_and_repr():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8)).astype(np.float32)
    for make in (lambda nn: nn.MaxPool2d(3, 2, 1, return_indices=True),
                 lambda nn: nn.AdaptiveMaxPool2d((3, 5), return_indices=True),
                 lambda nn: nn.MaxPool1d(2, return_indices=True)):
        em, tm = make(enn), make(torch.nn)
        assert repr(em) == repr(tm)
        data = x if "1d" not in repr(em) else x[0]
        (ev, ei), (tv, ti) = em(ember.tensor(data)), tm(torch.tensor(data))
        assert_close(ev, tv, 0, 0, what="values")
        assert_close(ei, ti, 0, 0, what="indices")
    for make in (lambda nn: nn.AvgPool2d(3, 2, 1, True, False, 2), lambda nn: nn.AvgPool1d(2, padding=1),
                 lambda nn: nn.AdaptiveAvgPool2d((None, 3)), lambda nn: nn.MaxPool2d((2, 3), 1, 1, 2, ceil_mode=True)):
        assert repr(make(enn)) == repr(make(torch.nn))


# ---- the C++ kernels and their NumPy references (ember.kernels' pooling family) -------------------

KERNEL_POOLS = [
    lambda x: F.max_pool2d(x, 2, return_indices=True),
    lambda x: F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True),
    lambda x: F.max_pool2d(x, (3, 2), stride=(1, 2), padding=1, dilation=(2, 1), ceil_mode=True, return_indices=True),
    lambda x: F.max_pool1d(x.flatten(2), 3, stride=2, padding=1, dilation=2, return_indices=True),
    lambda x: F.adaptive_max_pool2d(x, (3, 4), return_indices=True),  # uneven windows: numpy forward, kernel backward
    lambda x: F.avg_pool2d(x, 2, ceil_mode=True),
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    lambda x: F.avg_pool2d(x[0], (2, 3), stride=1, padding=1, divisor_override=5),
    lambda x: F.avg_pool1d(x.flatten(2), 4, stride=3, padding=2, ceil_mode=True),
    lambda x: F.adaptive_avg_pool2d(x, (4, 3)),
]


def _outputs_and_grad(call, x):
    leaf = ember.tensor(x, requires_grad=True)
    out = call(leaf)
    values, *indices = out if isinstance(out, tuple) else (out,)
    weights = np.random.default_rng(1).standard_normal(values.shape).astype(x.dtype)
    (values * ember.tensor(weights)).sum().backward()
    return [values.detach().numpy()] + [i.numpy() for i in indices] + [leaf.grad.numpy()]


@pytest.mark.parametrize("index", range(len(KERNEL_POOLS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_and_numpy_references_pool_alike(index, dtype):
    """The engine op gives the same values, indices and gradients on the cpp kernels (the default
    where the extension is built) and on the NumPy references."""
    x = np.random.default_rng(index).integers(-4, 5, (2, 3, 9, 8)).astype(dtype)  # ties in every window
    x[0, 0, 1, 1:3] = np.nan
    expected = _outputs_and_grad(KERNEL_POOLS[index], x)
    with ember.kernels.use(max_pool2d="numpy", avg_pool2d="numpy"):
        reference = _outputs_and_grad(KERNEL_POOLS[index], x)
    for actual, wanted in zip(expected, reference):
        np.testing.assert_allclose(actual, wanted, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("implementation", ["default", "numpy"])
def test_max_pool_nan_rule_like_torch(implementation):
    """NaN beats numbers and a later NaN beats an earlier one (PyTorch's ``value > max || isnan``),
    in the kernels and in the array code of 3-D and adaptive pools."""
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 2.0, 5.0, 5.0, -np.inf]]])
    windows = ((5, 3, 0), (2, 1, 1), (3, 1, 0))  # kernel, stride, padding
    calls = [("max_pool1d", x, dict(kernel_size=k, stride=s, padding=p)) for k, s, p in windows]
    calls += [("max_pool3d", x.reshape(1, 1, 1, 1, 8), dict(kernel_size=(1, 1, k), stride=(1, 1, s), padding=(0, 0, p)))
              for k, s, p in windows]
    calls += [("adaptive_max_pool1d", x, dict(output_size=3))]
    choices = {} if implementation == "default" else dict(max_pool2d="numpy")
    with ember.kernels.use(**choices):
        for name, data, kwargs in calls:
            values, indices = getattr(F, name)(ember.tensor(data), return_indices=True, **kwargs)
            t_values, t_indices = getattr(TF, name)(torch.tensor(data), return_indices=True, **kwargs)
            assert_close(values, t_values, 0, 0, what=f"{name} values {kwargs}")
            assert_close(indices, t_indices, 0, 0, what=f"{name} indices {kwargs}")


@pytest.mark.parametrize("call", [
    lambda F, x: F.max_pool2d(x, 3, stride=2, padding=1),
    lambda F, x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    lambda F, x: F.max_pool1d(x.flatten(2), 3, stride=2),
], ids=["max_pool2d", "avg_pool2d", "max_pool1d"])
def test_second_derivative_through_the_kernels_like_torch(call):
    """create_graph records the kernels' backward as the adjoint Function, whose gradient is again the pool."""
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7))
    w = np.random.default_rng(1).standard_normal(x.shape)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (eg,), (tg,) = (ember.autograd.grad((call(F, ex) ** 3).sum(), ex, create_graph=True),
                    torch.autograd.grad((call(TF, tx) ** 3).sum(), tx, create_graph=True))
    assert_close(eg, tg, 1e-10, 1e-12, what="first derivative")
    (eg * ember.tensor(w)).sum().backward(), (tg * torch.tensor(w)).sum().backward()
    assert_close(ex.grad, tx.grad, 1e-10, 1e-12, what="second derivative")
