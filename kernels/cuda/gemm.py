"""Matrix products on the GPU that a CUDA-graph capture can hold.

``matmul`` is what ember's cuda code calls for a GEMM: cuBLAS (``cupy.matmul``) normally, and ember's
tiled GEMM (kernels/cuda/gemm.cu, compiled by CuPy's RawModule) while a graph is being captured,
because CuPy refuses cuBLAS during stream capture. ``tiled_matmul`` and the C++/CUDA extension's
``native.matmul`` launch that same kernel; ``gemm_operands`` prepares their operands.
"""
import math

import numpy as np

from . import runtime

GEMM_TILE, GEMM_THREADS, GRID_LIMIT = 64, 16, 65535  # gemm.cu's tile and block; CUDA's grid y/z limit


def gemm_operands(a, b):
    """``a`` (*a, M, K) and ``b`` (*b, K, N), float32 or float64 CuPy arrays of one dtype, as gemm.cu
    takes them: (out (*broadcast(a, b), M, N) uninitialised, a, b C-contiguous, count, m, n, k,
    stride_a, stride_b), where a stride of 0 is one matrix serving the whole batch. ValueError or
    TypeError naming the shapes or dtypes when they do not multiply."""
    cp = runtime.cupy()
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: expected operands of at least 2 dims, got shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype or a.dtype.name not in ("float32", "float64"):
        raise TypeError(f"matmul: ember's GEMM takes two float32 or two float64 operands, got {a.dtype} and "
                        f"{b.dtype}")
    (m, k), n = a.shape[-2:], b.shape[-1]
    if b.shape[-2] != k:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: inner dimensions {k} and {b.shape[-2]} differ")
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: batch dimensions {a.shape[:-2]} and "
                         f"{b.shape[:-2]} do not broadcast") from None
    out = cp.empty(batch + (m, n), a.dtype)
    a, stride_a = _batch_of_matrices(cp, a, batch)
    b, stride_b = _batch_of_matrices(cp, b, batch)
    count = math.prod(batch)
    if stride_b == 0 and stride_a != 0:  # one b for the batch: a (count, M, K) is one (count * M, K) matrix
        m, count = m * count, 1
    return out, a, b, count, m, n, k, stride_a, stride_b


def _batch_of_matrices(cp, x, batch):
    """``x`` (*, rows, cols) as C-contiguous matrices for the batch shape ``batch``, and the elements from
    one matrix to the next: 0 when one matrix serves the whole batch (broadcast without a copy)."""
    if math.prod(x.shape[:-2]) == 1:
        return cp.ascontiguousarray(x.reshape(x.shape[-2:])), 0
    if x.shape[:-2] != batch:  # broadcast along some batch dims only: copy the batch out
        x = cp.broadcast_to(x, batch + x.shape[-2:])
    return cp.ascontiguousarray(x), x.shape[-2] * x.shape[-1]


def load():
    """Compile and load the tiled GEMM (float and double) now: a CUDA-graph capture calls this before
    it starts, so that no module is loaded in the middle of the capture."""
    for dtype in ("float32", "float64"):
        runtime.kernel("gemm", runtime.instantiations("gemm"), "gemm", dtype)


def tiled_matmul(a, b):
    """``a @ b`` by gemm.cu through CuPy's RawModule: a (*a, M, K), b (*b, K, N) -> (*broadcast, M, N),
    float32 or float64. Slower than cuBLAS at large sizes; it exists so that a graph can capture a GEMM."""
    out, a, b, count, m, n, k, stride_a, stride_b = gemm_operands(a, b)
    if out.size == 0:
        return out
    if k == 0:
        out.fill(0)
        return out
    function = runtime.kernel("gemm", runtime.instantiations("gemm"), "gemm", out.dtype)
    grid = (-(-n // GEMM_TILE), min(-(-m // GEMM_TILE), GRID_LIMIT), min(count, GRID_LIMIT))
    function(grid, (GEMM_THREADS, GEMM_THREADS),
             (a, b, out, *(np.int64(v) for v in (count, m, n, k, stride_a, stride_b))))
    return out


def matmul(a, b, out=None):
    """``cupy.matmul(a, b, out=out)``, or, while ember captures a CUDA graph (where CuPy refuses
    cuBLAS), the tiled GEMM with its product copied into ``out``. Shapes as ``cupy.matmul``."""
    cp = runtime.cupy()
    if not runtime.capturing():
        return cp.matmul(a, b, out=out)
    # a vector operand is a one-row (left) or one-column (right) matrix whose dim leaves the result
    product = tiled_matmul(a[None] if a.ndim == 1 else a, b[:, None] if b.ndim == 1 else b)
    if b.ndim == 1:
        product = product[..., 0]
    if a.ndim == 1:
        product = product[..., 0, :] if b.ndim > 1 else product[..., 0]
    if out is None:
        return product
    out[...] = product
    return out
