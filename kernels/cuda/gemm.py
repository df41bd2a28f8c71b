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


def gemm_operands(a, b, out=None):
    """``a`` (*a, M, K) and ``b`` (*b, K, N), float32 or float64 CuPy arrays of one dtype, as gemm.cu
    takes them: (out (*broadcast(a, b), M, N): ``out`` itself if it is C-contiguous of that shape and
    dtype and overlaps neither operand, else a new array; a, b, count, m, n, k, stride_a, stride_b,
    a_row, a_column, b_row, b_column), where a batch stride of 0 is one matrix serving the whole batch and
    the row and column strides let a transposed matrix go uncopied. ValueError or TypeError naming the
    shapes or dtypes when they do not multiply."""
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
    if (out is None or out.shape != batch + (m, n) or out.dtype != a.dtype or not out.flags.c_contiguous
            or cp.may_share_memory(out, a) or cp.may_share_memory(out, b)):  # the kernel reads while it writes
        out = cp.empty(batch + (m, n), a.dtype)
    a, stride_a, a_row, a_column = _batch_of_matrices(cp, a, batch)
    b, stride_b, b_row, b_column = _batch_of_matrices(cp, b, batch)
    count = math.prod(batch)
    if stride_b == 0 and stride_a != 0:  # one b for the batch: a (count, M, K) is one (count * M, K) matrix
        m, count = m * count, 1
    return out, a, b, count, m, n, k, stride_a, stride_b, a_row, a_column, b_row, b_column


def _batch_of_matrices(cp, x, batch):
    """``x`` (*, rows, cols) for the batch shape ``batch``, as (a C-contiguous array holding it, elements
    from one matrix to the next, from one row to the next, from one column to the next). One matrix for
    the whole batch (batch stride 0) that is the transpose of a C-contiguous one is passed as that one,
    without a copy (Linear's weight^T); anything else is made C-contiguous."""
    if math.prod(x.shape[:-2]) == 1:
        matrix = x.reshape(x.shape[-2:])
        if not matrix.flags.c_contiguous and matrix.flags.f_contiguous:
            return matrix.T, 0, 1, matrix.shape[0]
        matrix = cp.ascontiguousarray(matrix)
        return matrix, 0, matrix.shape[1], 1
    if x.shape[:-2] != batch:  # broadcast along some batch dims only: copy the batch out
        x = cp.broadcast_to(x, batch + x.shape[-2:])
    x = cp.ascontiguousarray(x)
    return x, x.shape[-2] * x.shape[-1], x.shape[-1], 1


def load():
    """Compile and load the tiled GEMM (float and double) now: a CUDA-graph capture calls this before
    it starts, so that no module is loaded in the middle of the capture."""
    for dtype in ("float32", "float64"):
        runtime.kernel("gemm", runtime.instantiations("gemm"), "gemm", dtype)


def tiled_matmul(a, b, out=None):
    """``a @ b`` by gemm.cu through CuPy's RawModule: a (*a, M, K), b (*b, K, N) -> (*broadcast, M, N),
    float32 or float64, written into ``out`` when that is a C-contiguous array of the result's shape
    (else into a new array: check what comes back). Slower than cuBLAS at large sizes; it exists so
    that a graph can capture a GEMM."""
    out, a, b, *sizes = gemm_operands(a, b, out)
    if out.size == 0:
        return out
    count, m, n, k = sizes[:4]
    if k == 0:
        out.fill(0)
        return out
    function = runtime.kernel("gemm", runtime.instantiations("gemm"), "gemm", out.dtype)
    grid = (-(-n // GEMM_TILE), min(-(-m // GEMM_TILE), GRID_LIMIT), min(count, GRID_LIMIT))
    function(grid, (GEMM_THREADS, GEMM_THREADS), (a, b, out, *(np.int64(v) for v in sizes)))
    return out


def matmul(a, b, out=None):
    """``cupy.matmul(a, b, out=out)``, or, while ember captures a CUDA graph (where CuPy refuses
    cuBLAS), the tiled GEMM, writing into ``out`` (directly where it can). Shapes as ``cupy.matmul``."""
    cp = runtime.cupy()
    if not runtime.capturing():
        return cp.matmul(a, b, out=out)
    if a.ndim > 1 and b.ndim > 1:
        product = tiled_matmul(a, b, out)
        if out is not None and product is not out:  # ``out`` is a view the kernel cannot write through
            out[...] = product
        return out if out is not None else product
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
