"""The matrix product on the GPU, against the reference in kernels/linalg.py.

cuBLAS (``cupy.matmul``) comes first: tuned per GPU, it should beat the simple tiled GEMM of
kernels/cuda/gemm.cu (``cuda_cpp``, from the C++/CUDA extension) at every size that matters. That
one exists for CUDA-graph captures, which CuPy refuses around cuBLAS calls: force it there with
``ember.kernels.use(matmul="cuda_cpp")``. Both are registered here, so that this file fixes their
order whatever order kernels/cuda/__init__.py imports the modules in.
"""
from ..registry import register
from . import native, runtime

register("matmul", "cuda", "cupy", lambda: runtime.cupy().matmul)
register("matmul", "cuda", "cuda_cpp", native.loader(native.matmul))
