"""ember's kernels: a registry of implementations per (op, device), each raced against a NumPy
reference. See ``available()`` for what serves each op here and why the others don't.

One module per kernel family (``conv.py``, ``pooling.py``, ...) holds the family's NumPy reference,
the glue to its C++ kernels (``cpu/<family>.cpp``) and the registrations, best implementation first.
"""
from . import cpu_extension
from .registry import available, dispatch, implementation, names, register, use
# each family registers its implementations on import
from . import (activation, conv, elementwise, embedding, linalg, normalization, optim, pooling,  # noqa: E402,F401,I001
               quantized, recurrent, reduction, softmax)
from . import cuda  # noqa: E402,F401  (registers the cuda implementations; loads nothing yet)

cpu_extension.check_required()


def matmul(a, b):
    """``a @ b`` of raw arrays (NumPy or CuPy; matrices in the last two dims, batch dims broadcast) by
    the registry's matmul for their device: engine code multiplies arrays through this, so that on cuda
    a CUDA-graph capture gets ember's GEMM instead of the cuBLAS call CuPy refuses there."""
    return dispatch("matmul", a)(a, b)


def set_num_threads(n):
    """Threads for ember's OpenMP kernels (NumPy's BLAS keeps its own pool)."""
    cpu_extension.load().set_num_threads(int(n))


def get_num_threads():
    """Threads ember's OpenMP kernels use (1 without the extension)."""
    try:
        return cpu_extension.load().get_num_threads()
    except ImportError:
        return 1


__all__ = ["available", "dispatch", "get_num_threads", "implementation", "matmul", "names", "register",
           "set_num_threads", "use"]
