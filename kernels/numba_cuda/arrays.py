"""What every Numba-CUDA kernel's glue needs: the array library of its inputs (CuPy on a GPU, NumPy
under Numba's CUDA simulator, where ``@cuda.jit`` kernels run on NumPy arrays), launch sizes, and
the registry loader that lets these kernels serve ember only on a real GPU.

Nothing here imports numba.cuda or CuPy before it is needed: ember imports without them.
"""
import functools

import numpy as np


def library(array):
    """``cupy`` for a CuPy array, else ``numpy`` (CuPy is imported only when given one of its arrays)."""
    if type(array).__module__.split(".")[0] == "cupy":
        import cupy
        return cupy
    return np


def float_dtype(array, op):
    """The array's dtype, which ember's Numba kernels compute in: float32 or float64."""
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"ember's Numba CUDA kernel {op} takes float32 or float64, not {array.dtype}")
    return array.dtype


def block():
    """Threads per block: the CUDA glue's (kernels/cuda/runtime.py), imported on first launch
    because ember.kernels.cuda imports this package."""
    from ..cuda import runtime
    return runtime.BLOCK


def launch(n):
    """``(blocks, threads)`` for one thread per element of ``n`` (at least one block)."""
    from ..cuda import runtime
    return runtime.blocks(n)[0], runtime.BLOCK


def row_threads(n):
    """Threads for one block per row of ``n`` elements: a power of two from one warp (32) to
    ``block()``, no more than the row needs, as the tree reductions halve it."""
    threads = 32
    while threads < min(n, block()):
        threads *= 2
    return threads


def loader(function):
    """A registry loader: ``function`` once numba.cuda sees a real GPU. Under the simulator the
    kernels run (for tests) but must not serve ember: they would be slow and take NumPy arrays."""
    def load():
        try:
            from numba import cuda
            from numba.cuda import config
        except ImportError as error:
            raise ImportError(f"numba-cuda is not installed ({error}); pip install numba-cuda") from None
        if config.ENABLE_CUDASIM:
            raise RuntimeError("Numba's CUDA simulator is on (NUMBA_ENABLE_CUDASIM=1): no real GPU")
        if not cuda.is_available():
            raise RuntimeError("numba.cuda finds no usable CUDA driver and GPU")
        _check_compiler(cuda)
        return function
    return load


@functools.cache
def _check_compiler(cuda):
    """Compile one tiny kernel, so that a numba-cuda that cannot compile here (seen on a GPU machine:
    numba-cuda 0.30 with NumPy 2.5, which dropped ``np.row_stack``) marks these kernels unavailable,
    with the reason, instead of failing at their first call."""
    try:
        cuda.jit("void(float32[:])")(_set_first)
    except Exception as error:  # whatever the compiler raises, the kernels cannot run
        raise RuntimeError(f"numba-cuda cannot compile kernels here: {type(error).__name__}: {error}") from None


def _set_first(x):
    x[0] = 1.0
