// The host launchers of ember.kernels._cuda: declared here for module.cpp (compiled by the C++ compiler),
// defined in native/<family>.cu (compiled by nvcc), one per kernel of kernels/cuda/<family>.cu, following
// that file's launch contract. module.cpp says how to add one.
//
// Every launcher takes device pointers as integers (CuPy's `array.data.ptr`), then sizes, then the CUDA
// stream as an integer (CuPy's `cupy.cuda.get_current_stream().ptr`; 0 is the legacy default stream),
// launches asynchronously and returns cudaGetLastError(): module.cpp turns an error into RuntimeError.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace ember_cuda {

using Pointer = std::uintptr_t;

// Blocks to cover `count` items at `per_block` each, at most `limit` (the grid's bound in that dim;
// the kernels loop over what a clamped grid leaves), at least 1.
inline unsigned grid_size(long long count, long long per_block, long long limit) {
  const long long blocks = (count + per_block - 1) / per_block;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks > limit ? limit : blocks);
}

inline cudaStream_t as_stream(Pointer stream) { return reinterpret_cast<cudaStream_t>(stream); }

// gemm.cu: c (batch, m, n) = a (batch, m, k) @ b (batch, k, n); stride_a / stride_b are the elements between
// a batch's matrices of a / b, 0 for one matrix shared by the batch; a_row, a_column / b_row, b_column the
// elements between rows and between columns of a matrix of a / b.
template <typename T>
cudaError_t launch_gemm(Pointer a, Pointer b, Pointer c, long long batch, long long m, long long n, long long k,
                        long long stride_a, long long stride_b, long long a_row, long long a_column,
                        long long b_row, long long b_column, Pointer stream);

}  // namespace ember_cuda
