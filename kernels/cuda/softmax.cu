// Softmax, log_softmax (forward and backward, along any dim) and the fused cross entropy, for
// float and double (T). An array reduced along a dim is seen as (outer, length, inner): line
// (o, j) holds the `length` elements at o * length * inner + c * inner + j.
//
// Launch contract (BLOCK = 256; a row block size is a multiple of 32, at most 1024, and no shared
// memory is passed at launch: each kernel declares its own 32 T's). Sizes are long long;
// `log_softmax` is an int flag (0: softmax, 1: log_softmax).
//
//   softmax_forward_rows<T>(const T* x, T* y, long long length, int log_softmax)
//       inner == 1: x, y (rows, length) contiguous. grid (rows,), block (row block,).
//   softmax_forward_lines<T>(const T* x, T* y, long long outer, long long length, long long inner,
//                            int log_softmax)
//       inner > 1: x, y (outer, length, inner) contiguous, one thread per line.
//       grid (ceil(outer * inner / BLOCK),), block (BLOCK,).
//   softmax_backward_rows<T>(const T* y, const T* grad, T* out, long long length, int log_softmax)
//       as softmax_forward_rows; y is the forward's output, grad and out its shape.
//   softmax_backward_lines<T>(const T* y, const T* grad, T* out, long long outer, long long length,
//                             long long inner, int log_softmax)
//       as softmax_forward_lines.
//   cross_entropy_forward<T>(const T* logits, const long long* target, T* loss, T* probabilities,
//                            long long classes, long long ignore_index)
//       logits, probabilities (N, classes); target, loss (N,). grid (N,), block (row block,).
//   cross_entropy_backward<T>(const T* probabilities, const long long* target, const T* grad,
//                             long long grad_step, T* out, long long classes, long long ignore_index)
//       probabilities, out (N, classes); target (N,); grad[n * grad_step] is row n's gradient
//       (grad_step 0: one value for every row). grid (N,), block (row block,).
//
// A target outside [0, classes) that is not ignore_index is the caller's error (the engine checks
// targets first): the kernels never index with it, and its row's loss is NaN.
#pragma once

#include "common.cuh"

// The threads that share one line. A block shares a contiguous row and reduces through shared
// memory; a lone thread takes a strided line, so that neighbouring threads read neighbouring lines
// and their loads coalesce.
template <typename T>
struct BlockTeam {
  T* scratch;  // __shared__, 32 T's
  __device__ long long first() const { return threadIdx.x; }
  __device__ long long step() const { return blockDim.x; }
  __device__ T sum(T value) const { return ember_block_sum(value, scratch); }
  __device__ T max(T value) const { return ember_block_max(value, scratch); }
};

template <typename T>
struct ThreadTeam {
  __device__ long long first() const { return 0; }
  __device__ long long step() const { return 1; }
  __device__ T sum(T value) const { return value; }
  __device__ T max(T value) const { return value; }
};

// log(sum(exp(x))) of a line as max + log(sum): cross entropy subtracts an element from the max
// first, exactly.
template <typename T>
struct LogSumExp {
  T max, sum;  // sum of exp(x - max)
};

// y = softmax(x) or log_softmax(x) over one line of `length` elements `stride` apart. The max
// keeps a NaN (then every output is NaN); an all -inf line gives -inf - -inf = NaN, as PyTorch.
template <typename T, typename Team>
__device__ LogSumExp<T> softmax_line(const T* x, T* y, long long length, long long stride, bool log_softmax,
                                     Team team) {
  T largest = ember_neg_inf<T>();
  for (long long c = team.first(); c < length; c += team.step()) largest = ember_max(largest, x[c * stride]);
  largest = team.max(largest);
  T sum = T(0);
  for (long long c = team.first(); c < length; c += team.step()) sum += ember_exp(x[c * stride] - largest);
  sum = team.sum(sum);
  const T log_sum = ember_log(sum);
  for (long long c = team.first(); c < length; c += team.step()) {
    const T shifted = x[c * stride] - largest;
    y[c * stride] = log_softmax ? shifted - log_sum : ember_exp(shifted) / sum;
  }
  return {largest, sum};
}

// d softmax: y * (g - sum(g * y)); d log_softmax: g - exp(y) * sum(g).
template <typename T, typename Team>
__device__ void softmax_backward_line(const T* y, const T* grad, T* out, long long length, long long stride,
                                      bool log_softmax, Team team) {
  T total = T(0);
  for (long long c = team.first(); c < length; c += team.step())
    total += log_softmax ? grad[c * stride] : grad[c * stride] * y[c * stride];
  total = team.sum(total);
  for (long long c = team.first(); c < length; c += team.step()) {
    const long long i = c * stride;
    out[i] = log_softmax ? grad[i] - ember_exp(y[i]) * total : y[i] * (grad[i] - total);
  }
}

// Offset of the first element of line `line` (= o * inner + j) of an (outer, length, inner) array.
__device__ __forceinline__ long long line_offset(long long line, long long length, long long inner) {
  return line / inner * length * inner + line % inner;
}

template <typename T>
__global__ void softmax_forward_rows(const T* x, T* y, long long length, int log_softmax) {
  __shared__ T scratch[32];
  const long long offset = blockIdx.x * length;
  softmax_line(x + offset, y + offset, length, 1, log_softmax != 0, BlockTeam<T>{scratch});
}

template <typename T>
__global__ void softmax_forward_lines(const T* x, T* y, long long outer, long long length, long long inner,
                                      int log_softmax) {
  const long long line = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (line >= outer * inner) return;
  const long long offset = line_offset(line, length, inner);
  softmax_line(x + offset, y + offset, length, inner, log_softmax != 0, ThreadTeam<T>{});
}

template <typename T>
__global__ void softmax_backward_rows(const T* y, const T* grad, T* out, long long length, int log_softmax) {
  __shared__ T scratch[32];
  const long long offset = blockIdx.x * length;
  softmax_backward_line(y + offset, grad + offset, out + offset, length, 1, log_softmax != 0, BlockTeam<T>{scratch});
}

template <typename T>
__global__ void softmax_backward_lines(const T* y, const T* grad, T* out, long long outer, long long length,
                                       long long inner, int log_softmax) {
  const long long line = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (line >= outer * inner) return;
  const long long offset = line_offset(line, length, inner);
  softmax_backward_line(y + offset, grad + offset, out + offset, length, inner, log_softmax != 0, ThreadTeam<T>{});
}

// loss[n] = log(sum_c exp(logits[n, c])) - logits[n, target[n]] (0 where target[n] == ignore_index),
// and probabilities[n] = softmax(logits[n]), which the backward scales into the gradient.
template <typename T>
__global__ void cross_entropy_forward(const T* logits, const long long* target, T* loss, T* probabilities,
                                      long long classes, long long ignore_index) {
  __shared__ T scratch[32];
  const long long row = blockIdx.x, offset = row * classes;
  const LogSumExp<T> lse =
      softmax_line(logits + offset, probabilities + offset, classes, 1, false, BlockTeam<T>{scratch});
  if (threadIdx.x != 0) return;
  const long long t = target[row];
  if (t == ignore_index)
    loss[row] = T(0);
  else if (t < 0 || t >= classes)
    loss[row] = ember_nan<T>();
  else
    loss[row] = ember_log(lse.sum) - (logits[offset + t] - lse.max);
}

// out[n] = (probabilities[n] - onehot(target[n])) * grad[n], zero where target[n] == ignore_index.
template <typename T>
__global__ void cross_entropy_backward(const T* probabilities, const long long* target, const T* grad,
                                       long long grad_step, T* out, long long classes, long long ignore_index) {
  const long long row = blockIdx.x, offset = row * classes, t = target[row];
  const bool kept = t != ignore_index;
  const T g = kept ? grad[row * grad_step] : T(0);
  for (long long c = threadIdx.x; c < classes; c += blockDim.x) {
    T value = kept ? probabilities[offset + c] * g : T(0);  // ignored rows are 0 even where p is NaN
    if (c == t) value -= g;
    out[offset + c] = value;
  }
}
