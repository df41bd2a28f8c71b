"""ember's CUDA kernels: CuPy glue (one module per family, beside its ``<family>.cu`` source), the
C++/CUDA extension's glue (``native.py``) and, in ``ember.kernels.numba_cuda``, Numba-CUDA kernels.

Importing registers every implementation on device ``cuda`` without touching CuPy or the GPU; each
loads on first use, or records why it cannot (no CuPy, no GPU). Within an op, the first registered
available implementation serves it: the CuPy kernels are imported before the Numba ones, whose
launches cost more host time. ``linalg`` registers cuBLAS (through CuPy) before the C++/CUDA GEMM.
"""
from . import runtime  # noqa: F401
from . import linalg  # noqa: F401,E402
from . import activation, optim, reduction  # noqa: F401,E402  (CuPy elementwise and reduction kernels)
from . import conv, embedding, normalization, pooling, recurrent, softmax  # noqa: F401,E402  (CuPy RawModule kernels from the .cu files)
from .. import numba_cuda  # noqa: F401,E402  (Numba-CUDA kernels, after CuPy: their launches cost more host time)
