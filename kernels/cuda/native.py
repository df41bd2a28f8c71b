"""Glue to the C++/CUDA extension ``ember.kernels._cuda`` (kernels/cuda/native/, built by CMake with
nvcc where nvcc is found): each function checks its CuPy arrays, makes them C-contiguous, allocates
the output with CuPy and passes device pointers and CuPy's current stream to a host launcher. The
kernels are the same ``<family>.cu`` sources CuPy compiles. On CuPy's stream, a launch is ordered
with CuPy's own work (its memory pool reuses the freed inputs only after it) and a CUDA-graph
capture of that stream records it.

Importing this module loads neither CuPy nor the extension.
"""
import functools

from . import gemm, runtime


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


def matmul(a, b):
    """``a @ b`` by the tiled GEMM of kernels/cuda/gemm.cu, as ``kernels.linalg.matmul``: matrices in the
    last two dims, batch dims broadcast. a (*a, M, K), b (*b, K, N) float32 or float64 CuPy arrays
    -> (*broadcast(a, b), M, N)."""
    cp = runtime.cupy()
    out, a, b, *sizes = gemm.gemm_operands(a, b)
    if out.size == 0:
        return out
    extension().gemm(out.dtype.name, a.data.ptr, b.data.ptr, out.data.ptr, *sizes, _stream(cp))
    return out
