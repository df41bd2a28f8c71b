"""Activation functions (``torch.nn.functional``'s relu, gelu, softplus...), forward and backward
side by side.

Each Function is built by ``_activation(name, forward, gradient)``: ``forward(xp, x, *params)``
computes on raw arrays through the array module ``xp``, ``gradient(grad, x, y, *params)`` gives the
input's gradient in Tensor ops from the incoming ``grad``, the input ``x`` and the output ``y`` (so
backward is itself differentiable). Unlike elementwise's ``unary_op``, activations carry
hyperparameters (slopes, alpha, beta, bounds), passed as plain numbers after ``x``.
Piecewise ops pick their gradient with ``where`` at the kinks exactly as PyTorch does.

relu and gelu run on ``ember.kernels``' fused kernels for float32/float64 arrays (one pass where
NumPy takes several); their backward uses the kernel too when nothing records it, and the Tensor
formula under ``create_graph``, so double backward still works.
"""
import math

import numpy as np

from ... import kernels
from ..device import array_module
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from .elementwise import _erf_forward, erf, exp, sigmoid, tanh, where
from .inplace import inplace_update

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "selu_",
           "celu", "celu_", "gelu", "silu", "mish", "softplus", "hardtanh", "hardtanh_",
           "hardsigmoid", "hardswish", "logsigmoid", "softsign", "tanhshrink", "threshold",
           "threshold_", "softshrink", "hardshrink", "prelu"]

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _activation(name, forward, gradient, array_gradient=None):
    """The Function of ``y = f(x; params)`` from f on arrays and its backward formula. With
    ``array_gradient(grad, x, y, *params)`` on raw arrays (None where it does not cover the arrays),
    a backward that nothing records uses it instead of the Tensor formula."""

    def forward_(ctx, x, *params):
        ctx.params = params
        y = forward(array_module(x), x, *params)
        ctx.save_for_backward(x, y)
        return y

    def backward_(ctx, grad):
        x, y = ctx.saved_tensors
        if array_gradient is not None and not is_grad_enabled():
            result = array_gradient(grad._data, x._data, y._data, *ctx.params)
            if result is not None:
                return (Tensor(result),) + (None,) * len(ctx.params)
        return (gradient(grad, x, y, *ctx.params),) + (None,) * len(ctx.params)

    return type(name, (Function,), {"forward": staticmethod(forward_), "backward": staticmethod(backward_)})


def _apply(function, name, input, *params, inplace=False, integers=False):
    """Run an activation, in place on ``input`` when asked. Only ops PyTorch defines on integer
    tensors (``integers=True``: relu, hardtanh, threshold) accept them."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not integers and input._data.dtype.kind != "f":
        raise NotImplementedError(f"{name}: not implemented for input of dtype {input.dtype} "
                                  f"(shape {tuple(input.shape)}); expected a floating point tensor")
    params = tuple(float(p) for p in params)  # Python floats keep the input's dtype (NumPy scalars may not)
    if inplace:
        return inplace_update(input, function.apply, *params, op_name=name + "_")
    return function.apply(input, *params)


def _float_kernel(op, x):
    """The kernel serving ``op`` for a float32/float64 array ``x`` (either device); None for other
    dtypes, which keep the array-module code."""
    if x.dtype.type in (np.float32, np.float64):
        return kernels.dispatch(op, x)
    return None


def _with_kernel(op, fallback):
    """A forward ``f(xp, x)`` that runs kernel ``op`` where it serves ``x``, ``fallback`` elsewhere."""
    def run(xp, x):
        kernel = _float_kernel(op, x)
        return kernel(x) if kernel is not None else fallback(xp, x)
    return run


def _kernel_gradient(op, takes_output):
    """An ``array_gradient`` for ``_activation`` from backward kernel ``op(grad, x or y)``."""
    def run(grad, x, y):
        kernel = _float_kernel(op, grad)
        return None if kernel is None else kernel(grad, y if takes_output else x)
    return run


def _clip_array(xp, x, low, high):
    # Keeps integer dtypes (relu6/hardtanh of an int tensor stay ints, as in PyTorch).
    return xp.clip(x, low, high).astype(x.dtype, copy=False)


# ---- piecewise linear ----------------------------------------------------------------------------

_Relu = _activation("Relu", _with_kernel("relu_forward", lambda xp, x: xp.maximum(x, 0)),
                    lambda grad, x, y: where(y <= 0, 0.0, grad), _kernel_gradient("relu_backward", True))
_Hardtanh = _activation("Hardtanh", lambda xp, x, low, high: _clip_array(xp, x, low, high),
                        lambda grad, x, y, low, high: where((x <= low) | (x >= high), 0.0, grad))
_LeakyRelu = _activation("LeakyRelu", lambda xp, x, slope: xp.where(x > 0, x, x * slope),
                         lambda grad, x, y, slope: where(x > 0, grad, grad * slope))
_Threshold = _activation(
    "Threshold", lambda xp, x, threshold, value: xp.where(x > threshold, x, value).astype(x.dtype, copy=False),
    lambda grad, x, y, threshold, value: where(x <= threshold, 0.0, grad))


def _shrink_gradient(grad, x, y, lambd):
    # both shrinks are flat on the closed dead zone [-lambd, lambd] and have slope 1 outside it
    return where(x.abs() <= lambd, 0.0, grad)


_Softshrink = _activation(
    "Softshrink", lambda xp, x, lambd: xp.where(x > lambd, x - lambd, xp.where(x < -lambd, x + lambd, 0)),
    _shrink_gradient)
_Hardshrink = _activation("Hardshrink", lambda xp, x, lambd: xp.where(xp.abs(x) <= lambd, 0, x), _shrink_gradient)
# hardsigmoid = relu6(x + 3) / 6: slope 1/6 strictly inside (-3, 3)
_Hardsigmoid = _activation("Hardsigmoid", lambda xp, x: xp.clip(x + 3, 0, 6) / 6,
                           lambda grad, x, y: where((x > -3) & (x < 3), grad / 6, 0.0))
# hardswish = x * relu6(x + 3) / 6: d/dx = x/3 + 1/2 inside (-3, 3), 0 below, 1 above
_Hardswish = _activation("Hardswish", lambda xp, x: x * xp.clip(x + 3, 0, 6) / 6,
                         lambda grad, x, y: where(x <= -3, 0.0, where(x < 3, grad * (x / 3 + 0.5), grad)))


def relu(input, inplace=False):
    """``max(input, 0)``; the gradient at 0 is 0. Shape: (*) -> (*)."""
    return _apply(_Relu, "relu", input, inplace=inplace, integers=True)


def relu_(input):
    """In-place ``relu``; returns ``input``."""
    return relu(input, inplace=True)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp into [min_val, max_val]; the gradient is 1 strictly inside, 0 elsewhere.
    Shape: (*) -> (*)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val (got {min_val} > {max_val})")
    return _apply(_Hardtanh, "hardtanh", input, min_val, max_val, inplace=inplace, integers=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    """In-place ``hardtanh``; returns ``input``."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    """``min(max(input, 0), 6)`` (``hardtanh(input, 0, 6)``). Shape: (*) -> (*)."""
    return _apply(_Hardtanh, "relu6", input, 0.0, 6.0, inplace=inplace, integers=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``input`` where positive, else ``negative_slope * input``. Shape: (*) -> (*)."""
    return _apply(_LeakyRelu, "leaky_relu", input, negative_slope, inplace=inplace)


def leaky_relu_(input, negative_slope=0.01):
    """In-place ``leaky_relu``; returns ``input``."""
    return leaky_relu(input, negative_slope, inplace=True)


def threshold(input, threshold, value, inplace=False):
    """``input`` where ``input > threshold``, else ``value``. Shape: (*) -> (*)."""
    return _apply(_Threshold, "threshold", input, threshold, value, inplace=inplace, integers=True)


def threshold_(input, threshold, value):
    """In-place ``threshold``; returns ``input``."""
    return _apply(_Threshold, "threshold", input, threshold, value, inplace=True, integers=True)


def softshrink(input, lambd=0.5):
    """``input - lambd`` above ``lambd``, ``input + lambd`` below ``-lambd``, 0 between.
    Shape: (*) -> (*)."""
    if lambd < 0:
        raise RuntimeError(f"softshrink: lambda must be in range [0, inf), but found {lambd}")
    return _apply(_Softshrink, "softshrink", input, lambd)


def hardshrink(input, lambd=0.5):
    """``input`` where ``|input| > lambd``, else 0. Shape: (*) -> (*)."""
    return _apply(_Hardshrink, "hardshrink", input, lambd)


def hardsigmoid(input, inplace=False):
    """``relu6(input + 3) / 6``. Shape: (*) -> (*)."""
    return _apply(_Hardsigmoid, "hardsigmoid", input, inplace=inplace)


def hardswish(input, inplace=False):
    """``input * relu6(input + 3) / 6``. Shape: (*) -> (*)."""
    return _apply(_Hardswish, "hardswish", input, inplace=inplace)


def prelu(input, weight):
    """``input`` where positive, else ``weight * input``, with one learnable slope per channel
    (dim 1) or a single one. Shapes: input (N, C, *) or (*), weight (C,) or (1,) -> like input."""
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise RuntimeError(f"prelu: Mismatch of parameter numbers and input channel size. Found "
                           f"parameter numbers = {weight.numel()} and channel size = {channels} "
                           f"(input {tuple(input.shape)}, weight {tuple(weight.shape)})")
    slope = weight.reshape((-1,) + (1,) * (input.ndim - 2)) if input.ndim >= 2 else weight.reshape(())
    return where(input > 0, input, input * slope)


# ---- exponential family: elu, selu, celu -------------------------------------------------------

def _elu_forward(xp, x, alpha, scale, input_scale):
    # min(x, 0) keeps expm1 from overflowing in the branch that is not taken
    return xp.where(x > 0, x * scale, (alpha * scale) * xp.expm1(xp.minimum(x, 0) * input_scale))


def _elu_gradient(grad, x, y, alpha, scale, input_scale):
    # below 0, y = alpha scale (e^(x input_scale) - 1), so dy/dx = input_scale (y + alpha scale)
    return where(x > 0, grad * scale, grad * (input_scale * (y + alpha * scale)))


_Elu = _activation("Elu", _elu_forward, _elu_gradient)


def elu(input, alpha=1.0, inplace=False):
    """``input`` where positive, else ``alpha * (exp(input) - 1)``. Shape: (*) -> (*)."""
    return _apply(_Elu, "elu", input, alpha, 1.0, 1.0, inplace=inplace)


def elu_(input, alpha=1.0):
    """In-place ``elu``; returns ``input``."""
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    """``scale * elu(input, alpha)`` with the self-normalising constants alpha ~ 1.6733,
    scale ~ 1.0507. Shape: (*) -> (*)."""
    return _apply(_Elu, "selu", input, _SELU_ALPHA, _SELU_SCALE, 1.0, inplace=inplace)


def selu_(input):
    """In-place ``selu``; returns ``input``."""
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    """``max(0, input) + min(0, alpha * (exp(input / alpha) - 1))``. Shape: (*) -> (*)."""
    if alpha == 0:
        raise RuntimeError("celu: ZeroDivisionError: alpha cannot be 0 for CELU")
    return _apply(_Elu, "celu", input, alpha, 1.0, 1.0 / alpha, inplace=inplace)


def celu_(input, alpha=1.0):
    """In-place ``celu``; returns ``input``."""
    return celu(input, alpha, inplace=True)


# ---- smooth ----------------------------------------------------------------------------------

def _gelu_gradient(grad, x, y):
    # d/dx x Phi(x) = Phi(x) + x phi(x), Phi the normal cdf, phi its density
    cdf = 0.5 * (1 + erf(x * _SQRT1_2))
    pdf = exp(x * x * -0.5) * _INV_SQRT_2PI
    return grad * (cdf + x * pdf)


def _gelu_tanh_forward(xp, x):
    return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)))


def _gelu_tanh_gradient(grad, x, y):
    # y = x/2 (1 + t), t = tanh(k (x + c x^3)): dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2)
    t = tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x))
    inner_derivative = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
    return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner_derivative)


def _gelu_forward(xp, x):
    # asarray: NumPy turns 0-d arithmetic into scalars, and the erf kernel dispatches on arrays
    return 0.5 * x * (1 + _erf_forward(xp, xp.asarray(x * _SQRT1_2)))


_Gelu = _activation("Gelu", _with_kernel("gelu_forward", _gelu_forward), _gelu_gradient,
                    _kernel_gradient("gelu_backward", False))
_GeluTanh = _activation("GeluTanh", _with_kernel("gelu_tanh_forward", _gelu_tanh_forward), _gelu_tanh_gradient,
                        _kernel_gradient("gelu_tanh_backward", False))


def gelu(input, approximate="none"):
    """``input * Phi(input)``, Phi the standard normal cdf; ``approximate='tanh'`` uses
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``. Shape: (*) -> (*)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"gelu: approximate argument must be either none or tanh (got '{approximate}').")
    return _apply(_Gelu if approximate == "none" else _GeluTanh, "gelu", input)


def _silu_gradient(grad, x, y):
    # d/dx x s(x) = s (1 + x (1 - s)), s = sigmoid(x)
    s = sigmoid(x)
    return grad * (s * (1 + x * (1 - s)))


def _mish_gradient(grad, x, y):
    # y = x tanh(softplus(x)), softplus' = sigmoid: dy/dx = t + x sigmoid(x) (1 - t^2)
    t = tanh(softplus(x))
    return grad * (t + x * sigmoid(x) * (1 - t * t))


# sigmoid as exp(-log(1 + e^-x)) stays finite at both tails
_Silu = _activation("Silu", lambda xp, x: x * xp.exp(-xp.logaddexp(0, -x)), _silu_gradient)
_Mish = _activation("Mish", lambda xp, x: x * xp.tanh(xp.logaddexp(0, x)), _mish_gradient)
# softplus = log(1 + e^(beta x)) / beta, linear above the threshold: the derivative is sigmoid(beta x)
_Softplus = _activation(
    "Softplus", lambda xp, x, beta, threshold: xp.where(x * beta > threshold, x, xp.logaddexp(0, x * beta) / beta),
    lambda grad, x, y, beta, threshold: where(x * beta > threshold, grad, grad * sigmoid(x * beta)))
# logsigmoid = -log(1 + e^-x), derivative sigmoid(-x)
_Logsigmoid = _activation("Logsigmoid", lambda xp, x: -xp.logaddexp(0, -x),
                          lambda grad, x, y: grad * sigmoid(-x))


def silu(input, inplace=False):
    """``input * sigmoid(input)`` (swish). Shape: (*) -> (*)."""
    return _apply(_Silu, "silu", input, inplace=inplace)


def mish(input, inplace=False):
    """``input * tanh(softplus(input))``. Shape: (*) -> (*)."""
    return _apply(_Mish, "mish", input, inplace=inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * input)) / beta``, and ``input`` itself where ``beta * input >
    threshold`` (for stability). Shape: (*) -> (*)."""
    return _apply(_Softplus, "softplus", input, beta, threshold)


def logsigmoid(input):
    """``log(sigmoid(input))``, computed stably. Shape: (*) -> (*)."""
    return _apply(_Logsigmoid, "logsigmoid", input)


def softsign(input):
    """``input / (1 + |input|)``. Shape: (*) -> (*)."""
    return input / (input.abs() + 1)


def tanhshrink(input):
    """``input - tanh(input)``. Shape: (*) -> (*)."""
    return input - tanh(input)


# ---- Tensor methods (those PyTorch has) --------------------------------------------------------

Tensor.relu = relu
Tensor.relu_ = relu_
Tensor.hardshrink = hardshrink
Tensor.prelu = prelu
