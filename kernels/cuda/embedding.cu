// The embedding's backward, for float and double (T): row n of grad added into row indices[n] of a
// zero table. Repeated indices meet in atomicAdd (double needs sm_60 or newer), so the order of
// their additions, and the last bits of such sums, vary from run to run.
//
// Launch contract (BLOCK = 256; no shared memory; sizes are long long):
//
//   embedding_backward<T>(const T* grad, const long long* indices, T* out, long long size, long long width,
//                         long long num_embeddings, long long padding_idx)
//       grad (N, width), size = N * width; indices (N,); out (num_embeddings, width), zeroed by the caller.
//       One thread per element of grad: grid (ceil(size / BLOCK),), block (BLOCK,).
//       Rows whose index is padding_idx (-1: none) add nothing; nor do indices outside
//       [0, num_embeddings), the caller's error (the forward's lookup has already failed on them).
#pragma once

#include "common.cuh"

template <typename T>
__global__ void embedding_backward(const T* grad, const long long* indices, T* out, long long size, long long width,
                                   long long num_embeddings, long long padding_idx) {
  const long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (i >= size) return;
  const long long row = indices[i / width];
  if (row == padding_idx || row < 0 || row >= num_embeddings) return;
  atomicAdd(out + row * width + i % width, grad[i]);
}
