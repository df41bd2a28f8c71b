"""The harness of tests/test_kernels.py (cpu) and tests/test_cuda.py (cuda): a ``KernelCase``
names a registry op and makes random inputs for it; every available implementation of the op must
match the op's ``numpy`` reference (``check_against_reference``).

Case files live in tests/kernel_cases/<family>.py, each defining ``CASES = [KernelCase(...), ...]``.
"""
import dataclasses
import importlib.util
import pathlib
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


def load_cases():
    """Every ``KernelCase`` of tests/kernel_cases/*.py."""
    cases = []
    for path in sorted((pathlib.Path(__file__).parent / "kernel_cases").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"kernel_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases.extend(module.CASES)
    return cases


def noncontiguous(array, xp=np):
    """The same values as ``array`` in a non-contiguous array (every other element of a bigger one);
    ``xp`` is the array's module (NumPy, or CuPy for a device array)."""
    if array.ndim == 0:
        return array
    wide = xp.empty(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
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


def _copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def check_against_reference(case, kernel, reference, layout, seeds, label, xp=np):
    """``kernel`` and the NumPy ``reference`` on the same inputs of ``case``, for each dtype and seed:
    the outputs match, the in-place arguments (``case.inplace``) match the reference's after the call,
    and the other inputs are unchanged. ``layout``: 'contiguous' or 'noncontiguous' inputs. ``xp``: the
    array module ``kernel`` computes with; for CuPy, inputs are copied to the device (the
    non-contiguous ones made there) and outputs must come back as device arrays."""
    def to_kernel(value):
        if not isinstance(value, np.ndarray):
            return value
        array = value if xp is np else xp.asarray(value)
        return noncontiguous(array, xp) if layout == "noncontiguous" else array

    def to_host(value, what):
        if xp is np:
            return value
        assert not isinstance(value, np.ndarray), f"{what} is a host array; a device kernel returns device arrays"
        return xp.asnumpy(value) if isinstance(value, xp.ndarray) else value

    for dtype in case.dtypes:
        for seed in seeds:
            host_args = case.make(np.random.default_rng(seed), dtype)
            args = tuple(to_kernel(a) for a in host_args)
            before, reference_args = _copies(host_args), _copies(host_args)
            expected = reference(*reference_args)
            actual = kernel(*args)
            what = f"{case.id} [{label}, {np.dtype(dtype).name}, seed {seed}, {layout}]"
            outputs = [to_host(a, f"{what} output {i}") for i, a in enumerate(flatten_outputs(actual))]
            assert_outputs_match(outputs, expected, dtype, case.rtol, case.atol, what)
            for i, (a, b) in enumerate(zip(args, before)):
                if i in case.inplace:
                    assert_outputs_match(to_host(a, f"{what} argument {i}"), reference_args[i], dtype, case.rtol,
                                         case.atol, f"{what} argument {i}")
                elif isinstance(b, np.ndarray):  # a kernel must not write to its inputs
                    np.testing.assert_array_equal(to_host(a, f"{what} input {i}"), b,
                                                  err_msg=f"{what} changed input {i}")
