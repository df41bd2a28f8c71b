"""CuPy ReductionKernels for the reductions of kernels/reduction.py: the map (x * x) and the sum
in one pass, with no temporary array."""
import functools

from ..registry import register
from . import runtime


@functools.cache
def _sum_of_squares_kernel():
    return runtime.cupy().ReductionKernel("T x", "T total", "x * x", "a + b", "total = a", "0",
                                          "ember_sum_of_squares", reduce_type="T")


def sum_of_squares(x):
    """sum(x * x) over every element, accumulated in x's dtype. x: cupy, any shape and strides ->
    0-d array of x's dtype."""
    return _sum_of_squares_kernel()(x)


register("sum_of_squares", "cuda", "cupy", runtime.loader(sum_of_squares))
