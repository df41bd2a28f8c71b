"""Kernels of activation functions whose NumPy form takes several passes over the array: relu's
gradient and gelu (exact, erf form, and the tanh approximation), forward and backward. Each takes
and returns arrays of one shape; backward takes the incoming gradient first."""
import math

import numpy as np

from .cpu_extension import kernel
from .registry import dispatch, register

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def relu_forward(x):
    """max(x, 0)."""
    return np.maximum(x, 0)


def relu_backward(grad, y):
    """``grad`` where relu's output ``y`` > 0, else 0 (PyTorch's choice at 0)."""
    return np.where(y <= 0, 0, grad).astype(grad.dtype, copy=False)


def _normal_cdf(x):
    # the erf kernel, as NumPy has none; on 1-d arrays, since erf's NumPy reference returns a float
    # for a 0-d array (kernels/elementwise.py)
    scaled = np.ravel(x * _SQRT1_2)
    return 0.5 * (1 + dispatch("erf", scaled)(scaled).reshape(np.shape(x)))


def gelu_forward(x):
    """x Phi(x), Phi the standard normal cdf."""
    return x * _normal_cdf(x)


def gelu_backward(grad, x):
    """grad d/dx x Phi(x) = grad (Phi(x) + x phi(x)), phi the normal density."""
    return grad * (_normal_cdf(x) + x * np.exp(x * x * -0.5) * _INV_SQRT_2PI)


def _gelu_tanh(x):
    return np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x))


def gelu_tanh_forward(x):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1 + _gelu_tanh(x))


def gelu_tanh_backward(grad, x):
    """y = x/2 (1 + t), t = tanh(k (x + c x^3)): dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2)."""
    t = _gelu_tanh(x)
    return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)))


for _op, _reference in [("relu_forward", relu_forward), ("relu_backward", relu_backward),
                        ("gelu_forward", gelu_forward), ("gelu_backward", gelu_backward),
                        ("gelu_tanh_forward", gelu_tanh_forward), ("gelu_tanh_backward", gelu_tanh_backward)]:
    register(_op, "cpu", "cpp", kernel(_op))
    register(_op, "cpu", "numpy", lambda reference=_reference: reference)
