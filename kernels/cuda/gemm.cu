// Matrix product C = A @ B of row-major, C-contiguous matrices, or of a batch of them: a tiled GEMM in
// shared memory. cuBLAS (cupy.matmul) is the fast path; this one exists so that a GEMM can sit inside a CUDA-graph
// capture, where CuPy refuses cuBLAS. Compiled by CuPy's RawModule (NVRTC) and by the _cuda extension
// (nvcc, native/gemm.cu), so no host headers.
//
// Launch contract:
// gemm<T>(const T* a, const T* b, T* c, long long batch, long long m, long long n, long long k,
//         long long stride_a, long long stride_b, long long a_row, long long a_column, long long b_row,
//         long long b_column), T = float or double
//   a (batch, m, k), b (batch, k, n) -> c (batch, m, n), every element of c written (zeros when k = 0).
//   stride_a, stride_b: elements from one matrix of a (of b) to the next, or 0 when one matrix serves the
//   whole batch. a_row, a_column (b_row, b_column): elements from one row (column) of a matrix of a (b) to
//   the next, so that a transposed view needs no copy: (k, 1) for a C-contiguous a, (1, m) for the
//   transpose of a C-contiguous (k, m) matrix. c's matrices are C-contiguous, m * n apart.
//   block (GEMM_THREADS, GEMM_THREADS) = (16, 16); static shared memory 2 * GEMM_TILE * GEMM_STEP * sizeof(T)
//   (8 KiB for float, 16 KiB for double).
//   grid: (ceil(n / GEMM_TILE), ceil(m / GEMM_TILE), batch) covers c once; a smaller grid is fine in any dim
//   (blocks loop over the tiles past it), so the launcher clamps y and z to CUDA's 65535.
#pragma once

#include "common.cuh"

// A block computes a GEMM_TILE x GEMM_TILE tile of C, GEMM_STEP columns of A (rows of B) at a time. Its
// GEMM_THREADS x GEMM_THREADS threads each own GEMM_WORK x GEMM_WORK outputs spaced GEMM_THREADS apart
// rather than adjacent: then a warp's shared-memory reads are broadcasts or consecutive words (no bank
// conflicts) and its stores to C are runs of 16 consecutive elements.
constexpr int GEMM_TILE = 64;
constexpr int GEMM_STEP = 16;
constexpr int GEMM_THREADS = 16;
constexpr int GEMM_WORK = GEMM_TILE / GEMM_THREADS;

template <typename T>
__global__ void __launch_bounds__(GEMM_THREADS * GEMM_THREADS)
gemm(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c, long long batch, long long m,
     long long n, long long k, long long stride_a, long long stride_b, long long a_row, long long a_column,
     long long b_row, long long b_column) {
  __shared__ T a_tile[GEMM_TILE][GEMM_STEP];  // rows row0.. of A, columns step0..
  __shared__ T b_tile[GEMM_STEP][GEMM_TILE];  // rows step0.. of B, columns col0..
  const int tx = threadIdx.x, ty = threadIdx.y, thread = ty * GEMM_THREADS + tx;
  const int threads = GEMM_THREADS * GEMM_THREADS;

  for (long long matrix = blockIdx.z; matrix < batch; matrix += gridDim.z) {
    const T* a_matrix = a + matrix * stride_a;
    const T* b_matrix = b + matrix * stride_b;
    T* c_matrix = c + matrix * m * n;
    for (long long row0 = (long long)blockIdx.y * GEMM_TILE; row0 < m; row0 += (long long)gridDim.y * GEMM_TILE) {
      for (long long col0 = (long long)blockIdx.x * GEMM_TILE; col0 < n; col0 += (long long)gridDim.x * GEMM_TILE) {
        T sum[GEMM_WORK][GEMM_WORK];
#pragma unroll
        for (int i = 0; i < GEMM_WORK; ++i)
#pragma unroll
          for (int j = 0; j < GEMM_WORK; ++j) sum[i][j] = T(0);

        for (long long step0 = 0; step0 < k; step0 += GEMM_STEP) {
          // Consecutive threads load consecutive elements of a row (coalesced when the operand's rows are
          // contiguous); zeros pad the ragged edges, so the product loop below needs no bounds checks.
          for (int e = thread; e < GEMM_TILE * GEMM_STEP; e += threads) {
            const int r = e / GEMM_STEP, s = e % GEMM_STEP;
            const long long row = row0 + r, col = step0 + s;
            a_tile[r][s] = (row < m && col < k) ? a_matrix[row * a_row + col * a_column] : T(0);
          }
          for (int e = thread; e < GEMM_STEP * GEMM_TILE; e += threads) {
            const int r = e / GEMM_TILE, s = e % GEMM_TILE;
            const long long row = step0 + r, col = col0 + s;
            b_tile[r][s] = (row < k && col < n) ? b_matrix[row * b_row + col * b_column] : T(0);
          }
          __syncthreads();
#pragma unroll
          for (int s = 0; s < GEMM_STEP; ++s) {
            T a_column[GEMM_WORK], b_row[GEMM_WORK];
#pragma unroll
            for (int i = 0; i < GEMM_WORK; ++i) a_column[i] = a_tile[ty + i * GEMM_THREADS][s];
#pragma unroll
            for (int j = 0; j < GEMM_WORK; ++j) b_row[j] = b_tile[s][tx + j * GEMM_THREADS];
#pragma unroll
            for (int i = 0; i < GEMM_WORK; ++i)
#pragma unroll
              for (int j = 0; j < GEMM_WORK; ++j) sum[i][j] += a_column[i] * b_row[j];
          }
          __syncthreads();  // every thread is done reading the tiles before the next step overwrites them
        }

#pragma unroll
        for (int i = 0; i < GEMM_WORK; ++i) {
          const long long row = row0 + ty + i * GEMM_THREADS;
          if (row >= m) continue;
#pragma unroll
          for (int j = 0; j < GEMM_WORK; ++j) {
            const long long col = col0 + tx + j * GEMM_THREADS;
            if (col < n) c_matrix[row * n + col] = sum[i][j];
          }
        }
      }
    }
  }
}
