"""NumPy reference kernels: the ground truth every other implementation is tested against."""
import math

import numpy as np

_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    """The error function, elementwise (NumPy has none; math.erf is exact to double precision)."""
    return _erf_scalar(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)
