"""CuPy ElementwiseKernels for the activation kernels (kernels/activation.py) and erf
(kernels/elementwise.py): one pass over the arrays each, where CuPy's array code takes one kernel
launch and one temporary per operation. ``T`` is float or double, as the arrays are; constants are
rounded to it first, as NumPy rounds Python floats to a float32 array's precision."""
import functools

from ..activation import _GELU_CUBIC, _INV_SQRT_2PI, _SQRT1_2, _SQRT_2_OVER_PI
from ..registry import register
from . import runtime


def _constant(value):
    return f"T({value!r})"


# Phi(x), the standard normal cdf; and t = tanh(sqrt(2/pi) (x + 0.044715 x^3)), grouped as the references do
_NORMAL_CDF = f"const T cdf = T(0.5) * (T(1) + erf(x * {_constant(_SQRT1_2)}));"
_GELU_TANH = f"const T t = tanh({_constant(_SQRT_2_OVER_PI)} * (x + {_constant(_GELU_CUBIC)} * x * x * x));"

# op -> (input parameters, output parameters, operation), as cupy.ElementwiseKernel takes them
KERNELS = {
    # `x < 0 ? 0 : x` keeps a NaN, as np.maximum does
    "relu_forward": ("T x", "T y", "y = x < T(0) ? T(0) : x"),
    # PyTorch's choice: zero gradient where the output is 0; a NaN output passes the gradient
    "relu_backward": ("T grad, Y y", "T out", "out = y <= Y(0) ? T(0) : grad"),
    "gelu_forward": ("T x", "T y", f"{_NORMAL_CDF} y = x * cdf"),
    "gelu_backward": ("T grad, T x", "T out",
                      f"{_NORMAL_CDF} out = grad * (cdf + x * exp(x * x * T(-0.5)) * {_constant(_INV_SQRT_2PI)})"),
    "gelu_tanh_forward": ("T x", "T y", f"{_GELU_TANH} y = T(0.5) * x * (T(1) + t)"),
    "gelu_tanh_backward": ("T grad, T x", "T out",
                           f"{_GELU_TANH} out = grad * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * "
                           f"({_constant(_SQRT_2_OVER_PI)} * (T(1) + {_constant(3 * _GELU_CUBIC)} * x * x)))"),
    "erf": ("T x", "T y", "y = erf(x)"),
}


@functools.cache
def kernel(op):
    """The compiled-on-first-call ``cupy.ElementwiseKernel`` of ``op``; it takes the op's arrays
    (cupy, any strides) in the reference's order and returns a new C-contiguous array."""
    in_params, out_params, operation = KERNELS[op]
    return runtime.cupy().ElementwiseKernel(in_params, out_params, operation, f"ember_{op}")


def erf(x):
    """The error function, elementwise. x: any shape -> same shape; float64 for integer input, as
    the reference."""
    if x.dtype.kind != "f":
        x = x.astype(runtime.cupy().float64)
    return kernel("erf")(x)


for _op in KERNELS:
    if _op != "erf":
        register(_op, "cuda", "cupy", functools.partial(kernel, _op))
register("erf", "cuda", "cupy", runtime.loader(erf))
