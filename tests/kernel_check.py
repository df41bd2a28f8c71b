"""The harness of tests/test_kernels.py: a ``KernelCase`` names a registry op and makes random
inputs for it; every available implementation of the op must match the op's ``numpy`` reference.

Case files live in tests/kernel_cases/<family>.py, each defining ``CASES = [KernelCase(...), ...]``.
"""
import dataclasses
from typing import Callable, Optional

import numpy as np


@dataclasses.dataclass
class KernelCase:
    """``make(rng, dtype)`` -> the kernel's positional arguments (raw arrays and plain values),
    drawing its own random shapes from ``rng`` (the harness calls it with several seeds).
    ``name`` tells cases of one op apart in test ids; tolerances default by dtype. ``inplace``:
    positions of the arguments the kernel updates in place (optimizer steps): those are compared
    with the reference's after the call, and only they may change."""
    op: str
    make: Callable
    name: str = ""
    rtol: Optional[float] = None
    atol: Optional[float] = None
    dtypes: tuple = (np.float32, np.float64)
    inplace: tuple = ()

    @property
    def id(self):
        return f"{self.op}-{self.name}" if self.name else self.op


DEFAULT_TOLERANCE = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float64): (1e-10, 1e-12)}


def noncontiguous(array):
    """The same values as ``array`` in a non-contiguous array (every other element of a bigger one)."""
    if array.ndim == 0:
        return array
    wide = np.empty(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
    wide[..., ::2] = array
    return wide[..., ::2]


def flatten_outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def assert_outputs_match(actual, expected, dtype, rtol=None, atol=None, label=""):
    default_rtol, default_atol = DEFAULT_TOLERANCE[np.dtype(dtype)]
    rtol, atol = rtol or default_rtol, atol or default_atol
    actual, expected = flatten_outputs(actual), flatten_outputs(expected)
    assert len(actual) == len(expected), f"{label}: {len(actual)} outputs, reference has {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        if e is None or not isinstance(e, np.ndarray):
            if isinstance(e, float):
                np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"{label} output {i}")
            else:
                assert a == e, f"{label} output {i}: {a!r} != {e!r}"
            continue
        assert isinstance(a, np.ndarray), f"{label} output {i}: {type(a).__name__}, expected an array"
        assert a.shape == e.shape, f"{label} output {i}: shape {a.shape}, reference {e.shape}"
        assert a.dtype == e.dtype, f"{label} output {i}: dtype {a.dtype}, reference {e.dtype}"
        if e.dtype.kind in "iub":
            np.testing.assert_array_equal(a, e, err_msg=f"{label} output {i}")
        else:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"{label} output {i}")
