"""The matrix product on the GPU, against the reference in kernels/linalg.py.

cuBLAS (``cupy.matmul``) comes first: tuned per GPU, it should beat the simple tiled GEMM of
kernels/cuda/gemm.cu at every size that matters. That one exists for CUDA-graph captures, which CuPy
refuses around cuBLAS calls: "cupy" switches to it by itself while ember captures (kernels/cuda/gemm.py),
and it is registered on its own too, through CuPy's RawModule ("tiled") and through the C++/CUDA
extension ("cuda_cpp"), for racing. They are registered here, so that this file fixes their order
whatever order kernels/cuda/__init__.py imports the modules in.
"""
from ..registry import register
from . import gemm, native, runtime

register("matmul", "cuda", "cupy", runtime.loader(gemm.matmul))
register("matmul", "cuda", "tiled", runtime.loader(gemm.tiled_matmul))
register("matmul", "cuda", "cuda_cpp", native.loader(native.matmul))
