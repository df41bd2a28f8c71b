"""Activation modules (``ReLU``, ``GELU``, ``Softmax``, ``PReLU``...) and ``Dropout``: thin modules
over the functional ops, with PyTorch's constructor arguments and ``repr``. Every activation maps
(*) -> (*) elementwise (the softmax family along ``dim``)."""
import warnings

from ..engine import empty
from ..engine.ops import (celu, dropout, elu, gelu, hardshrink, hardsigmoid, hardswish, hardtanh,
                          leaky_relu, log_softmax, logsigmoid, mish, prelu, relu, selu, sigmoid, silu,
                          softmax, softmin, softplus, softshrink, softsign, tanh, tanhshrink, threshold)
from . import init
from .module import Module, Parameter

__all__ = ["Threshold", "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
           "Softplus", "Hardtanh", "Hardsigmoid", "Hardswish", "Hardshrink", "Softshrink", "Tanhshrink",
           "LogSigmoid", "Softsign", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Softmin", "Softmax2d",
           "PReLU", "Dropout"]


def _inplace_suffix(inplace, separator=", "):
    return f"{separator}inplace=True" if inplace else ""


class _Stateless(Module):
    """An activation without arguments: ``forward`` is ``function(input)``."""

    function = None

    def forward(self, input):
        return self.function(input)


class _Inplace(Module):
    """An activation whose only argument is ``inplace`` (``ReLU(inplace=True)`` overwrites its input)."""

    function = None
    shows_inplace = True  # PyTorch's Hardsigmoid and Hardswish leave inplace out of their repr

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return self.function(input, inplace=self.inplace)

    def extra_repr(self):
        return _inplace_suffix(self.inplace and self.shows_inplace, "")


class ReLU(_Inplace):
    """``max(0, x)``."""
    function = staticmethod(relu)


class SELU(_Inplace):
    """``scale * elu(x, alpha)`` with the self-normalising constants."""
    function = staticmethod(selu)


class SiLU(_Inplace):
    """``x * sigmoid(x)``."""
    function = staticmethod(silu)


class Mish(_Inplace):
    """``x * tanh(softplus(x))``."""
    function = staticmethod(mish)


class Hardsigmoid(_Inplace):
    """``clamp(x / 6 + 1 / 2, 0, 1)``."""
    function = staticmethod(hardsigmoid)
    shows_inplace = False


class Hardswish(_Inplace):
    """``x * hardsigmoid(x)``."""
    function = staticmethod(hardswish)
    shows_inplace = False


class Tanh(_Stateless):
    function = staticmethod(tanh)


class Sigmoid(_Stateless):
    function = staticmethod(sigmoid)


class LogSigmoid(_Stateless):
    """``log(sigmoid(x))``, computed stably."""
    function = staticmethod(logsigmoid)


class Softsign(_Stateless):
    """``x / (1 + |x|)``."""
    function = staticmethod(softsign)


class Tanhshrink(_Stateless):
    """``x - tanh(x)``."""
    function = staticmethod(tanhshrink)


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input):
        return threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}{_inplace_suffix(self.inplace)}"


class Hardtanh(Module):
    """``clamp(x, min_val, max_val)`` (``min_value``/``max_value`` are PyTorch's deprecated names)."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None):
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and renamed to `min_val`",
                          FutureWarning, stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and renamed to `max_val`",
                          FutureWarning, stacklevel=2)
            max_val = max_value
        if max_val <= min_val:
            raise AssertionError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input):
        return hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_suffix(self.inplace)}"


class ReLU6(Hardtanh):
    """``min(max(0, x), 6)``."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return _inplace_suffix(self.inplace, "")


class LeakyReLU(Module):
    """``x`` for x >= 0, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}{_inplace_suffix(self.inplace)}"


class ELU(Module):
    """``x`` for x > 0, ``alpha (exp(x) - 1)`` otherwise."""

    function = staticmethod(elu)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return self.function(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}{_inplace_suffix(self.inplace)}"


class CELU(ELU):
    """``max(0, x) + min(0, alpha (exp(x / alpha) - 1))``."""
    function = staticmethod(celu)


class GELU(Module):
    """``x * Phi(x)``, or its tanh approximation with ``approximate='tanh'``."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardshrink(Module):
    """``x`` where ``|x| > lambd``, else 0."""

    function = staticmethod(hardshrink)

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return self.function(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """``x - lambd`` above lambd, ``x + lambd`` below -lambd, else 0."""
    function = staticmethod(softshrink)


def _implicit_softmax_dim(name, ndim):
    # PyTorch's legacy rule for dim=None: the class dim of (C), (N, C), (C, H, W) or (N, C, ...)
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  f"include dim=X as an argument.", stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim`` (PyTorch's deprecated implicit dim when None)."""

    function = staticmethod(softmax)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _implicit_softmax_dim(self.function.__name__, input.ndim) if self.dim is None else self.dim
        return self.function(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """``log(softmax(x))`` along ``dim``."""
    function = staticmethod(log_softmax)


class Softmin(Softmax):
    """``softmax(-x)`` along ``dim``."""
    function = staticmethod(softmin)


class Softmax2d(Module):
    """Softmax over the channels at each position. Shape: (N, C, H, W) or (C, H, W)."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return softmax(input, -3)


class PReLU(Module):
    """``max(0, x) + weight * min(0, x)`` with a learnt slope: one (``num_parameters=1``) or one per
    channel (dim 1 of the input). weight: (num_parameters,), initialised to ``init``."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(empty(num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Dropout(Module):
    """In training mode, zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)``; the identity in eval mode."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
