"""Glue to the C++/CUDA extension ``ember.kernels._cuda`` (kernels/cuda/native/, built by CMake with
nvcc where nvcc is found): each function checks its CuPy arrays, makes them C-contiguous, allocates
the output with CuPy and passes device pointers and CuPy's current stream to a host launcher. The
kernels are the same ``<family>.cu`` sources CuPy compiles. On CuPy's stream, a launch is ordered
with CuPy's own work (its memory pool reuses the freed inputs only after it) and a CUDA-graph
capture of that stream records it.

Importing this module loads neither CuPy nor the extension.
"""
import functools
import math

import numpy as np

from . import runtime


@functools.cache
def extension():
    """The ``_cuda`` module, or ImportError saying why it is missing."""
    try:
        from .. import _cuda
    except ImportError as error:
        raise ImportError(f"the C++/CUDA extension ember.kernels._cuda is not built ({error}); it is built "
                          f"by `pip install -e .` where nvcc is on PATH (EMBER_CUDA=ON makes that "
                          f"required)") from None
    return _cuda


def loader(function):
    """A registry loader: ``function`` once the extension is built and CuPy has a GPU."""
    def load():
        extension()
        runtime.cupy()
        return function
    return load


def _stream(cp):
    return cp.cuda.get_current_stream().ptr


def _float_operands(op, *arrays):
    """The dtype the launchers take (float32 or float64), shared by ``arrays``; TypeError otherwise."""
    dtype = arrays[0].dtype
    if any(array.dtype != dtype for array in arrays):
        raise TypeError(f"{op}: expected operands of one dtype, got {', '.join(str(a.dtype) for a in arrays)}")
    if dtype.name not in ("float32", "float64"):
        raise TypeError(f"{op}: the C++/CUDA kernel takes float32 or float64, not {dtype}")
    return dtype


def _batch_of_matrices(cp, x, batch):
    """``x`` (*, rows, cols) as C-contiguous matrices for the batch shape ``batch``, and the elements from
    one matrix to the next: 0 when one matrix serves the whole batch (broadcast without a copy)."""
    if math.prod(x.shape[:-2]) == 1:
        return cp.ascontiguousarray(x.reshape(x.shape[-2:])), 0
    if x.shape[:-2] != batch:  # broadcast along some batch dims only: copy the batch out
        x = cp.broadcast_to(x, batch + x.shape[-2:])
    return cp.ascontiguousarray(x), x.shape[-2] * x.shape[-1]


def matmul(a, b):
    """``a @ b`` by the tiled GEMM of kernels/cuda/gemm.cu, as ``kernels.linalg.matmul``: matrices in the
    last two dims, batch dims broadcast. a (*a, M, K), b (*b, K, N) float32 or float64 CuPy arrays
    -> (*broadcast(a, b), M, N)."""
    cp = runtime.cupy()
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: expected operands of at least 2 dims, got shapes {a.shape} and {b.shape}")
    dtype = _float_operands("matmul", a, b)
    (m, k), n = a.shape[-2:], b.shape[-1]
    if b.shape[-2] != k:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: inner dimensions {k} and {b.shape[-2]} differ")
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: batch dimensions {a.shape[:-2]} and "
                         f"{b.shape[:-2]} do not broadcast") from None
    out = cp.empty(batch + (m, n), dtype)
    if out.size == 0:
        return out
    a, stride_a = _batch_of_matrices(cp, a, batch)
    b, stride_b = _batch_of_matrices(cp, b, batch)
    count = math.prod(batch)
    if stride_b == 0 and stride_a != 0:  # one b for the batch: a (count, M, K) is one (count * M, K) matrix
        m, count = m * count, 1
    extension().gemm(dtype.name, a.data.ptr, b.data.ptr, out.data.ptr, count, m, n, k, stride_a, stride_b,
                     _stream(cp))
    return out
