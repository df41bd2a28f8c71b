"""Elementwise kernels NumPy lacks: erf."""
import math

import numpy as np

from .cpu_extension import kernel
from .registry import register

_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    """The error function, elementwise (NumPy has none; math.erf is exact to double precision).
    x: any shape -> same shape and float dtype."""
    # frompyfunc gives a Python float, not an array, for 0-d input
    return np.asarray(_erf_scalar(x)).astype(x.dtype if x.dtype.kind == "f" else np.float64)


register("erf", "cpu", "cpp", kernel("erf"))
register("erf", "cpu", "numpy", lambda: erf)
