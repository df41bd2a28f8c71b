"""Kernels of linear algebra: the matrix product. NumPy's (BLAS) is the reference and the CPU
implementation; on the GPU, kernels/cuda/linalg.py registers cuBLAS and ember's own tiled GEMM.
"""
import numpy as np

from .registry import register


def matmul(a, b):
    """The matrix product: matrices in the last two dims, batch dims broadcast.
    a (*a, M, K), b (*b, K, N) of one dtype -> (*broadcast(a, b), M, N)."""
    return np.matmul(a, b)


register("matmul", "cpu", "numpy", lambda: matmul)
