// Layer norm over the rows of x (M, D) and training-mode batch norm over each channel of x (N, C, L)
// (L the product of the spatial dims), forward and backward, for float and double (T). One block
// normalizes one group (a row, a channel): the statistics in two passes (the mean, then the squares
// of the deviations from it, which stays exact where the mean is large against the spread), then a
// pass that writes the output. Statistics are summed in T. weight and bias may be null (absent).
//
// Launch contract (BLOCK = 256; no shared memory is passed at launch; sizes are long long):
//
//   layer_norm_forward<T>(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
//                         long long D, T eps)
//       x, y (M, D); weight, bias (D,) or null; mean, rstd (M,). grid (M,), block (BLOCK,).
//   layer_norm_backward<T>(const T* grad, const T* x, const T* mean, const T* rstd, const T* weight,
//                          T* grad_x, long long D)
//       grad, x, grad_x (M, D); mean, rstd (M,); weight (D,) or null. grid (M,), block (BLOCK,).
//   layer_norm_backward_parameters<T>(const T* grad, const T* x, const T* mean, const T* rstd,
//                                     T* partial_weight, T* partial_bias, long long M, long long D,
//                                     long long rows_per_chunk)
//       The sums over the rows of chunk k (rows [k * rows_per_chunk, (k + 1) * rows_per_chunk)) of
//       grad * xhat and of grad into partial_weight[k] and partial_bias[k] ((chunks, D) each, or
//       null: not wanted). grid (ceil(D / 32), chunks), block (32, 8), chunks =
//       ceil(M / rows_per_chunk) <= 65535. Then column_sums turns each partial into (D,).
//   column_sums<T>(const T* partial, T* out, long long rows, long long D)
//       out[d] = sum over r of partial[r, d]; partial (rows, D), out (D,).
//       grid (ceil(D / BLOCK),), block (BLOCK,).
//   batch_norm_forward<T>(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
//                         long long N, long long C, long long L, T eps)
//       x, y (N, C, L); weight, bias (C,) or null; mean, rstd (C,). grid (C,), block (threads,),
//       threads a multiple of 32, at most 1024 (__launch_bounds__; few blocks: the glue uses 1024).
//   batch_norm_backward<T>(const T* grad, const T* x, const T* mean, const T* rstd, const T* weight,
//                          T* grad_x, T* grad_weight, T* grad_bias, long long N, long long C, long long L)
//       grad, x, grad_x (N, C, L); mean, rstd (C,); weight (C,) or null; grad_weight, grad_bias (C,)
//       or null (not wanted). grid (C,), block as batch_norm_forward.
#pragma once

#include "common.cuh"

// The elements of one group, as the calling thread's share of them: walk(f) calls f(index into x,
// index into weight and bias) for elements threadIdx.x, threadIdx.x + blockDim.x, ... of the group.
struct RowWalk {
  long long first, length;  // the row's first element; weight and bias by position in the row

  template <typename F>
  __device__ void operator()(F f) const {
    for (long long i = threadIdx.x; i < length; i += blockDim.x) f(first + i, i);
  }
};

// Channel `channel` of x (batch, channels, length): its element i = n * length + l lies at
// (n * channels + channel) * length + l. Stepping i by blockDim.x steps (n, l) by (blockDim.x /
// length, blockDim.x % length) with one carry, so no element costs a 64-bit division.
struct ChannelWalk {
  long long batch, channels, length, channel;

  template <typename F>
  __device__ void operator()(F f) const {
    if (length == 0) return;
    const long long step_n = blockDim.x / length, step_l = blockDim.x % length;
    long long n = threadIdx.x / length, l = threadIdx.x % length;
    while (n < batch) {
      f((n * channels + channel) * length + l, channel);
      n += step_n;
      l += step_l;
      if (l >= length) {
        l -= length;
        ++n;
      }
    }
  }
};

// y = (x - mean) * rstd * weight + bias over one group of `count` elements, with its mean and
// rstd = 1 / sqrt(biased variance + eps) stored at [group]. An empty group gives NaN statistics.
template <typename T, typename Walk>
__device__ void normalize_group(const T* x, const T* weight, const T* bias, T* y, T* mean_out, T* rstd_out,
                                long long group, long long count, T eps, Walk walk, T* scratch) {
  T sum = T(0);
  walk([&](long long i, long long) { sum += x[i]; });
  const T mean = ember_block_sum(sum, scratch) / T(count);
  T squares = T(0);
  walk([&](long long i, long long) {
    const T deviation = x[i] - mean;
    squares += deviation * deviation;
  });
  const T rstd = T(1) / ember_sqrt(ember_block_sum(squares, scratch) / T(count) + eps);
  walk([&](long long i, long long p) {
    T value = (x[i] - mean) * rstd;
    if (weight) value *= weight[p];
    if (bias) value += bias[p];
    y[i] = value;
  });
  if (threadIdx.x == 0) {
    mean_out[group] = mean;
    rstd_out[group] = rstd;
  }
}

template <typename T>
struct GradientSums {
  T g, g_xhat;  // sums of g' and g' * xhat over a group, g' = grad * weight (grad: no weight)
};

// grad_x = factor * rstd * (g' - mean(g') - xhat * mean(g' * xhat)) over one group, xhat = (x - mean)
// * rstd: the two subtracted terms are the mean's and the variance's dependence on x. `factor` is a
// weight shared by the whole group (batch norm's channel weight); returns the group's sums.
template <typename T, typename Walk>
__device__ GradientSums<T> normalize_group_backward(const T* grad, const T* x, const T* weight, T* grad_x, T mean,
                                                    T rstd, T factor, long long count, Walk walk, T* scratch) {
  T sum_g = T(0), sum_g_xhat = T(0);
  walk([&](long long i, long long p) {
    const T g = weight ? grad[i] * weight[p] : grad[i];
    sum_g += g;
    sum_g_xhat += g * ((x[i] - mean) * rstd);
  });
  const GradientSums<T> sums{ember_block_sum(sum_g, scratch), ember_block_sum(sum_g_xhat, scratch)};
  const T mean_g = sums.g / T(count), mean_g_xhat = sums.g_xhat / T(count);
  walk([&](long long i, long long p) {
    const T g = weight ? grad[i] * weight[p] : grad[i];
    const T xhat = (x[i] - mean) * rstd;
    grad_x[i] = factor * rstd * (g - mean_g - xhat * mean_g_xhat);
  });
  return sums;
}

template <typename T>
__global__ void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, long long D,
                                   T eps) {
  __shared__ T scratch[32];
  const long long row = blockIdx.x;
  normalize_group(x, weight, bias, y, mean, rstd, row, D, eps, RowWalk{row * D, D}, scratch);
}

template <typename T>
__global__ void layer_norm_backward(const T* grad, const T* x, const T* mean, const T* rstd, const T* weight,
                                    T* grad_x, long long D) {
  __shared__ T scratch[32];
  const long long row = blockIdx.x;
  normalize_group_backward(grad, x, weight, grad_x, mean[row], rstd[row], T(1), D, RowWalk{row * D, D}, scratch);
}

// The weight's and the bias's gradients sum over the M rows, down each column: a block takes 32
// columns (a warp reads 32 neighbouring elements of a row) of one chunk of rows, so that M rows are
// spread over many blocks instead of one loop.
template <typename T>
__global__ void layer_norm_backward_parameters(const T* grad, const T* x, const T* mean, const T* rstd,
                                               T* partial_weight, T* partial_bias, long long M, long long D,
                                               long long rows_per_chunk) {
  constexpr int kColumnTile = 32, kRowThreads = 8;  // the block's shape
  __shared__ T weight_sums[kRowThreads][kColumnTile], bias_sums[kRowThreads][kColumnTile];
  const long long d = blockIdx.x * (long long)kColumnTile + threadIdx.x;
  const long long first = blockIdx.y * rows_per_chunk;
  const long long last = first + rows_per_chunk < M ? first + rows_per_chunk : M;
  T sum_weight = T(0), sum_bias = T(0);
  if (d < D) {
    for (long long r = first + threadIdx.y; r < last; r += kRowThreads) {
      const T g = grad[r * D + d];
      sum_weight += g * ((x[r * D + d] - mean[r]) * rstd[r]);
      sum_bias += g;
    }
  }
  weight_sums[threadIdx.y][threadIdx.x] = sum_weight;
  bias_sums[threadIdx.y][threadIdx.x] = sum_bias;
  __syncthreads();
  if (threadIdx.y != 0 || d >= D) return;
  for (int k = 1; k < kRowThreads; ++k) {
    sum_weight += weight_sums[k][threadIdx.x];
    sum_bias += bias_sums[k][threadIdx.x];
  }
  const long long at = blockIdx.y * D + d;
  if (partial_weight) partial_weight[at] = sum_weight;
  if (partial_bias) partial_bias[at] = sum_bias;
}

template <typename T>
__global__ void column_sums(const T* partial, T* out, long long rows, long long D) {
  const long long d = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (d >= D) return;
  T sum = T(0);
  for (long long r = 0; r < rows; ++r) sum += partial[r * D + d];
  out[d] = sum;
}

template <typename T>
__global__ void __launch_bounds__(1024)
    batch_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, long long N, long long C,
                       long long L, T eps) {
  __shared__ T scratch[32];
  const long long c = blockIdx.x;
  normalize_group(x, weight, bias, y, mean, rstd, c, N * L, eps, ChannelWalk{N, C, L, c}, scratch);
}

// The channel's weight is one number, so it scales grad_x after the sums (factor), which are then
// those of grad itself: the bias's gradient sum(grad) and the weight's sum(grad * xhat).
template <typename T>
__global__ void __launch_bounds__(1024)
    batch_norm_backward(const T* grad, const T* x, const T* mean, const T* rstd, const T* weight, T* grad_x,
                        T* grad_weight, T* grad_bias, long long N, long long C, long long L) {
  __shared__ T scratch[32];
  const long long c = blockIdx.x;
  const GradientSums<T> sums =
      normalize_group_backward(grad, x, static_cast<const T*>(nullptr), grad_x, mean[c], rstd[c],
                               weight ? weight[c] : T(1), N * L, ChannelWalk{N, C, L, c}, scratch);
  if (threadIdx.x != 0) return;
  if (grad_weight) grad_weight[c] = sums.g_xhat;
  if (grad_bias) grad_bias[c] = sums.g;
}
