"""Numba-CUDA kernels of relu and gelu (exact, erf form), forward and backward, and erf: one thread
per element of contiguous, flattened arrays. Each takes and returns what its NumPy reference does
(kernels/activation.py, kernels/elementwise.py); backward takes the incoming gradient first."""
import functools
import math

import numpy as np

from ..activation import _INV_SQRT_2PI, _SQRT1_2
from ..registry import register
from . import arrays


# numba.cuda, imported by _kernels on first use (ember imports without it). The kernels name it as
# a module global because Numba's simulator runs them by swapping a fake module into that global.
cuda = None


@functools.cache
def _kernels(dtype):
    """op -> kernel(out, *inputs) on 1-d arrays, computing in ``dtype``: its constants are rounded
    to it first, as NumPy rounds Python floats to a float32 array's precision."""
    global cuda
    from numba import cuda

    zero, half, one, minus_half = (dtype.type(c) for c in (0, 0.5, 1, -0.5))
    sqrt1_2, inv_sqrt_2pi = dtype.type(_SQRT1_2), dtype.type(_INV_SQRT_2PI)

    @cuda.jit(device=True)
    def normal_cdf(x):
        return half * (one + math.erf(x * sqrt1_2))

    @cuda.jit
    def relu_forward(out, x):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = zero if x[i] < zero else x[i]  # keeps a NaN, as np.maximum does

    @cuda.jit
    def relu_backward(out, grad, y):
        i = cuda.grid(1)
        if i < out.size:
            # PyTorch's choice: zero gradient where the output is 0; a NaN output passes the gradient
            out[i] = zero if y[i] <= zero else grad[i]

    @cuda.jit
    def gelu_forward(out, x):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = x[i] * normal_cdf(x[i])

    @cuda.jit
    def gelu_backward(out, grad, x):
        i = cuda.grid(1)
        if i < out.size:
            # d/dx x Phi(x) = Phi(x) + x phi(x)
            v = x[i]
            out[i] = grad[i] * (normal_cdf(v) + v * math.exp(v * v * minus_half) * inv_sqrt_2pi)

    @cuda.jit
    def erf(out, x):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = math.erf(x[i])

    return {"relu_forward": relu_forward, "relu_backward": relu_backward, "gelu_forward": gelu_forward,
            "gelu_backward": gelu_backward, "erf": erf}


def _elementwise(op, first, *rest):
    """Kernel ``op`` over arrays of one shape -> a new array of that shape and ``first``'s dtype."""
    dtype = arrays.float_dtype(first, op)
    xp = arrays.library(first)
    out = xp.empty(first.shape, dtype)
    if out.size:
        blocks, threads = arrays.launch(out.size)
        flat = [xp.ascontiguousarray(a).reshape(-1) for a in (first, *rest)]
        _kernels(dtype)[op][blocks, threads](out.reshape(-1), *flat)
    return out


def erf(x):
    """The error function, elementwise. x: any shape -> same shape; float64 for integer input."""
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    return _elementwise("erf", x)


KERNELS = {op: functools.partial(_elementwise, op)
           for op in ("relu_forward", "relu_backward", "gelu_forward", "gelu_backward")}
KERNELS["erf"] = erf

for _op, _function in KERNELS.items():
    register(_op, "cuda", "numba", arrays.loader(_function))
