"""Activation functions against PyTorch, finite differences and second derivatives."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F
from op_check import OpCase, parametrize_cases, randn, unary_samples
from test_elementwise import away_from


def scaled(make, factor):
    """``make``'s samples times ``factor`` (kinks at ``points * factor``, margin scaled too)."""
    return lambda rng, dtype, *shape: (make(rng, dtype, *shape) * factor).astype(dtype)


def case(name, make=randn, **options):
    """An OpCase of ``F.name`` against ``torch.nn.functional.name`` on the elementwise shapes."""
    return OpCase(name, unary_samples(make), ember_fn=getattr(F, name), torch_fn=getattr(TF, name),
                  **options)


def inplace_case(name, make, **kwargs):
    """The functional in-place variant ``name`` on a non-leaf copy (in place on a leaf is an error)."""
    return OpCase(name, unary_samples(make), ember_fn=lambda x, **kw: getattr(F, name)(x * 1, **kw),
                  torch_fn=lambda x, **kw: getattr(TF, name)(x * 1, **kw), kwargs=kwargs)


def prelu_samples(rng, dtype):
    make = away_from([0])
    return [[make(rng, dtype, 2, 3, 4), randn(rng, dtype, 3)], [make(rng, dtype, 3, 5), randn(rng, dtype, 1)],
            [make(rng, dtype, 4), randn(rng, dtype, 1)], [make(rng, dtype), randn(rng, dtype, 1)]]


CASES = [
    case("relu", away_from([0])),
    case("relu6", scaled(away_from([0, 2]), 3)),
    case("leaky_relu", away_from([0])),
    case("leaky_relu", away_from([0]), kwargs={"negative_slope": 0.2}),
    case("elu", away_from([0])),
    case("elu", away_from([0]), kwargs={"alpha": 0.7}),
    case("selu", away_from([0])),
    case("celu", away_from([0])),
    case("celu", away_from([0]), kwargs={"alpha": 1.5}),
    case("gelu"),
    case("gelu", kwargs={"approximate": "tanh"}),
    case("silu"),
    case("mish"),
    case("softplus", scaled(randn, 4)),
    case("softplus", away_from([0.5]), kwargs={"beta": 2.0, "threshold": 1.0}),
    case("hardtanh", away_from([-1, 1])),
    case("hardtanh", away_from([-0.5, 2]), kwargs={"min_val": -0.5, "max_val": 2.0}),
    case("hardsigmoid", scaled(away_from([-1, 1]), 3)),
    case("hardswish", scaled(away_from([-1, 1]), 3)),
    case("logsigmoid", scaled(randn, 4)),
    case("softsign"),
    case("tanhshrink"),
    case("threshold", away_from([0.3]), kwargs={"threshold": 0.3, "value": -2.0}),
    case("softshrink", away_from([-0.5, 0.5])),
    case("softshrink", away_from([-1, 1]), kwargs={"lambd": 1.0}),
    case("hardshrink", away_from([-0.5, 0.5])),
    OpCase("prelu", prelu_samples, ember_fn=F.prelu, torch_fn=TF.prelu),
    inplace_case("relu_", away_from([0])),
    inplace_case("leaky_relu_", away_from([0]), negative_slope=0.3),
    inplace_case("elu_", away_from([0]), alpha=0.5),
    inplace_case("selu_", away_from([0])),
    inplace_case("celu_", away_from([0]), alpha=2.0),
    inplace_case("hardtanh_", away_from([-1, 1])),
    inplace_case("threshold_", away_from([0.1]), threshold=0.1, value=0.5),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


# Every activation with its kwargs, for the checks below (kinks avoided by the input).
SMOOTH = [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}), ("softplus", {}),
          ("softplus", {"beta": 0.5, "threshold": 3.0}), ("logsigmoid", {}), ("softsign", {}),
          ("tanhshrink", {}), ("elu", {"alpha": 0.5}), ("selu", {}), ("celu", {"alpha": 2.0})]
PIECEWISE = [("relu", {}), ("relu6", {}), ("leaky_relu", {}), ("hardtanh", {}), ("hardsigmoid", {}),
             ("hardswish", {}), ("threshold", {"threshold": 0.3, "value": 1.0}), ("softshrink", {}),
             ("hardshrink", {})]


def _input(shape=(3, 4), seed=0):
    # away from every kink used above (0, +-0.5, +-1, 0.3, +-3, 6)
    x = away_from([-6, -3, -1, -0.5, 0, 0.3, 0.5, 1, 3, 6], 0.05)(np.random.default_rng(seed), np.float64, *shape)
    return ember.tensor(x, requires_grad=True)


@pytest.mark.parametrize("name,kwargs", SMOOTH + PIECEWISE, ids=[n + str(k) for n, k in SMOOTH + PIECEWISE])
def test_double_backward(name, kwargs):
    assert ember.autograd.gradgradcheck(lambda x: getattr(F, name)(x, **kwargs), [_input()])


INPLACE_FLAG = [("relu", {}), ("relu6", {}), ("leaky_relu", {"negative_slope": 0.1}), ("elu", {}),
                ("selu", {}), ("celu", {}), ("silu", {}), ("mish", {}), ("hardtanh", {}),
                ("hardsigmoid", {}), ("hardswish", {}), ("threshold", {"threshold": 0.3, "value": 1.0})]


@pytest.mark.parametrize("name,kwargs", INPLACE_FLAG, ids=[n for n, _ in INPLACE_FLAG])
def test_inplace_flag_writes_input_and_keeps_gradient(name, kwargs):
    x = _input()
    expected = getattr(F, name)(x, **kwargs)
    (expected_grad,) = ember.autograd.grad(expected.sum(), x)
    y = x * 1
    out = getattr(F, name)(y, inplace=True, **kwargs)
    assert out is y and y._version_number == 1
    np.testing.assert_array_equal(y.detach().numpy(), expected.detach().numpy())
    (grad,) = ember.autograd.grad(out.sum(), x)
    np.testing.assert_array_equal(grad.numpy(), expected_grad.numpy())
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        getattr(F, name)(_input(), inplace=True, **kwargs)


def test_tensor_methods():
    data = np.array([[-1.5, 0.2], [0.7, -0.1]])
    x = ember.tensor(data)
    np.testing.assert_array_equal(x.relu().numpy(), np.maximum(data, 0))
    np.testing.assert_array_equal(x.hardshrink(0.5).numpy(), TF.hardshrink(torch.tensor(data), 0.5).numpy())
    np.testing.assert_array_equal(x.prelu(ember.tensor([0.25, 0.5], dtype=ember.float64)).numpy(),
                                  TF.prelu(torch.tensor(data), torch.tensor([0.25, 0.5], dtype=torch.float64)).numpy())
    assert x.relu_() is x and x.tolist() == [[0.0, 0.2], [0.7, 0.0]]


@pytest.mark.parametrize("name,args", [("relu", ()), ("relu6", ()), ("hardtanh", (-2, 3)),
                                       ("threshold", (1, 5))])
def test_integer_inputs_stay_integer_like_torch(name, args):
    data = np.array([-4, -1, 0, 2, 9])
    result = getattr(F, name)(ember.tensor(data), *args)
    expected = getattr(TF, name)(torch.tensor(data), *args)
    assert result.dtype == ember.int64
    np.testing.assert_array_equal(result.numpy(), expected.numpy())


def test_float_only_activations_reject_integers():
    with pytest.raises(NotImplementedError, match=r"silu: not implemented for input of dtype ember.int64 \(shape \(2,\)\)"):
        F.silu(ember.tensor([1, 2]))
    assert F.softsign(ember.tensor([1, -3])).tolist() == [0.5, -0.75]  # a composition: promotes


def test_argument_errors():
    x = ember.randn(3)
    with pytest.raises(RuntimeError, match="gelu: approximate argument must be either none or tanh"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="hardtanh: min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(RuntimeError, match="alpha cannot be 0 for CELU"):
        F.celu(x, alpha=0.0)
    with pytest.raises(RuntimeError, match="softshrink: lambda must be in range"):
        F.softshrink(x, -1.0)
    with pytest.raises(RuntimeError, match=r"prelu: Mismatch of parameter numbers and input channel size. "
                                           r"Found parameter numbers = 2 and channel size = 3 \(input \(4, 3\)"):
        F.prelu(ember.randn(4, 3), ember.randn(2))
    with pytest.raises(TypeError, match="relu\\(\\): argument 'input' must be Tensor, not list"):
        F.relu([1.0, -1.0])


@pytest.mark.parametrize("name", ["silu", "mish", "softplus", "logsigmoid", "gelu", "elu", "selu",
                                  "celu", "softsign", "tanhshrink"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_are_finite_and_match_torch(name, dtype):
    data = np.array([-1e4, -100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 100.0, 1e4], dtype)
    x, t = ember.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from the branch not taken
        y = getattr(F, name)(x)
        (grad,) = ember.autograd.grad(y.sum(), x)
    expected = getattr(TF, name)(t)
    (expected_grad,) = torch.autograd.grad(expected.sum(), t)
    np.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-6, atol=1e-6)


def test_gradient_at_the_kinks_matches_torch():
    data = np.array([-3.0, -1.0, -0.5, 0.0, 0.3, 0.5, 1.0, 3.0, 6.0])
    for name, kwargs in PIECEWISE + [("elu", {}), ("celu", {"alpha": 2.0})]:
        x, t = ember.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        (grad,) = ember.autograd.grad(getattr(F, name)(x, **kwargs).sum(), x)
        (expected,) = torch.autograd.grad(getattr(TF, name)(t, **kwargs).sum(), t)
        # rtol: PyTorch's float64 hardsigmoid gradient uses a float32 1/6
        np.testing.assert_allclose(grad.numpy(), expected.numpy(), rtol=1e-7, atol=0, err_msg=name)


@pytest.mark.parametrize("name, kernel, kwargs", [("relu", "relu", {}), ("gelu", "gelu", {}),
                                                  ("gelu", "gelu", {"approximate": "tanh"})])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_activation_kernels_give_the_same_op(name, kernel, kwargs, dtype):
    """Every implementation of the fused kernels gives the same output and gradient, and under
    create_graph the gradient (Tensor ops) equals the kernel's."""
    data = np.random.default_rng(0).standard_normal((37, 29)) * 3
    data[::4, ::3] = 0  # relu's kink
    x = ember.tensor(data, dtype=dtype, requires_grad=True)
    seed = ember.tensor(np.random.default_rng(1).standard_normal(data.shape), dtype=dtype)
    results = []
    for implementation in ember.kernels.names(kernel + "_forward", "cpu"):
        with ember.kernels.use(**{kernel: implementation}):
            y = getattr(F, name)(x, **kwargs)
            (grad,) = ember.autograd.grad(y, x, seed)
            results.append((y.detach().numpy(), grad.numpy()))
    (graph_grad,) = ember.autograd.grad(getattr(F, name)(x, **kwargs), x, seed, create_graph=True)
    results.append((results[0][0], graph_grad.detach().numpy()))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == ember.float32 else dict(rtol=1e-12, atol=1e-14)
    for y, grad in results[1:]:
        np.testing.assert_allclose(y, results[0][0], **tol)
        np.testing.assert_allclose(grad, results[0][1], **tol)
