// Host launcher of the tiled GEMM in kernels/cuda/gemm.cu (see its launch contract).
#include "../gemm.cu"
#include "launchers.h"

namespace ember_cuda {

template <typename T>
cudaError_t launch_gemm(Pointer a, Pointer b, Pointer c, long long batch, long long m, long long n, long long k,
                        long long stride_a, long long stride_b, long long a_row, long long a_column,
                        long long b_row, long long b_column, Pointer stream) {
  if (batch == 0 || m == 0 || n == 0) return cudaSuccess;
  const dim3 grid(grid_size(n, GEMM_TILE, 2147483647), grid_size(m, GEMM_TILE, 65535), grid_size(batch, 1, 65535));
  const dim3 block(GEMM_THREADS, GEMM_THREADS);
  gemm<T><<<grid, block, 0, as_stream(stream)>>>(reinterpret_cast<const T*>(a), reinterpret_cast<const T*>(b),
                                                 reinterpret_cast<T*>(c), batch, m, n, k, stride_a, stride_b,
                                                 a_row, a_column, b_row, b_column);
  return cudaGetLastError();
}

template cudaError_t launch_gemm<float>(Pointer, Pointer, Pointer, long long, long long, long long, long long,
                                        long long, long long, long long, long long, long long, long long, Pointer);
template cudaError_t launch_gemm<double>(Pointer, Pointer, Pointer, long long, long long, long long, long long,
                                         long long, long long, long long, long long, long long, long long, Pointer);

}  // namespace ember_cuda
