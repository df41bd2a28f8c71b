// 2-D max and average pools over the (H, W) planes of (*, H, W) arrays, forward and backward, with the
// semantics of the NumPy references in kernels/pooling.py (NaN, ties, divisors, windows reading no input).
//
// Launch contract. Every kernel: a 1-d grid of ceil(threads / 256) blocks of 256 threads, no shared
// memory, one thread per element of the array named below (threads past the end return). T is float
// or double. Sizes are int (int32): the host checks that every array's element count and every size
// fits in int32 before launching. Arrays are C-contiguous; "planes" is the product of the leading dims.
//
// max_pool2d_forward<T>(const T* x, T* values, long long* indices, int planes, int height, int width,
//                       int out_h, int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
//                       int padding_h, int padding_w, int dilation_h, int dilation_w)
//     x (planes, height, width); values and indices (planes, out_h, out_w): one thread per output.
//     indices are flat h * width + w within the plane (int64, as the reference).
// max_pool2d_backward<T>(const T* grad, const long long* indices, T* grad_x, int planes,
//                        int out_positions, int in_positions)
//     grad and indices (planes, out_positions); grad_x (planes, in_positions), ZEROED BY THE HOST
//     (the kernel atomically adds into it). One thread per element of grad. Indices outside
//     [0, in_positions) are skipped.
// avg_pool2d_forward<T>(const T* x, T* out, int planes, int height, int width, int out_h, int out_w,
//                       int kernel_h, int kernel_w, int stride_h, int stride_w, int padding_h,
//                       int padding_w, int count_include_pad, int divisor_override)
//     x (planes, height, width); out (planes, out_h, out_w): one thread per output.
//     count_include_pad: 0 or 1; divisor_override: 0 for none, else the divisor.
// avg_pool2d_backward<T>(const T* grad, T* grad_x, int planes, int height, int width, int out_h,
//                        int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
//                        int padding_h, int padding_w, int count_include_pad, int divisor_override)
//     grad (planes, out_h, out_w); grad_x (planes, height, width): one thread per element of grad_x
//     (a gather over the windows that cover it: no atomics, every element written).
#pragma once

#include "common.cuh"

// The global index of this thread, or -1 past `count` threads; int fits by the host's check.
__device__ __forceinline__ int ember_pool_thread(long long count) {
  const long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  return index < count ? (int)index : -1;
}

// Which tap of a window starting at `start` is its first inside the input: PyTorch steps a window
// starting in the padding forward by whole dilations.
__device__ __forceinline__ int ember_pool_first_tap(int start, int dilation) {
  return start < 0 ? (dilation - 1 - start) / dilation : 0;
}

// What window `o` of one dim counts toward the avg divisor: its taps inside the padded input (a
// ceil_mode window reaching past the padding counts only up to it) with count_include_pad, else
// its taps inside the input.
__device__ __forceinline__ int ember_pool_count(int o, int size, int kernel, int stride, int padding,
                                                int count_include_pad) {
  const int start = o * stride - padding;
  const int end = min(start + kernel, size + padding);
  return count_include_pad ? end - start : min(end, size) - max(start, 0);
}

template <typename T>
__device__ __forceinline__ T ember_pool_divisor(int oh, int ow, int height, int width, int kernel_h, int kernel_w,
                                                int stride_h, int stride_w, int padding_h, int padding_w,
                                                int count_include_pad, int divisor_override) {
  if (divisor_override) return T(divisor_override);
  return T(ember_pool_count(oh, height, kernel_h, stride_h, padding_h, count_include_pad) *
           ember_pool_count(ow, width, kernel_w, stride_w, padding_w, count_include_pad));
}

template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ values, long long* __restrict__ indices,
                                   int planes, int height, int width, int out_h, int out_w, int kernel_h,
                                   int kernel_w, int stride_h, int stride_w, int padding_h, int padding_w,
                                   int dilation_h, int dilation_w) {
  const int o = ember_pool_thread((long long)planes * out_h * out_w);
  if (o < 0) return;
  const int ow = o % out_w, oh = o / out_w % out_h, plane = o / (out_w * out_h);
  const int top = oh * stride_h - padding_h, left = ow * stride_w - padding_w;
  const T* in = x + plane * height * width;
  // taps in row-major order, as PyTorch visits them: a later value wins if greater (the first of
  // equal maxima stays) or NaN (the last NaN wins, and a NaN best is never replaced by a number);
  // a window with no value above -inf keeps its first tap inside the input
  T best = ember_neg_inf<T>();
  int tap = ember_pool_first_tap(top, dilation_h) * kernel_w + ember_pool_first_tap(left, dilation_w);
  for (int i = 0; i < kernel_h; ++i) {
    const int row = top + i * dilation_h;
    if (row < 0 || row >= height) continue;
    for (int j = 0; j < kernel_w; ++j) {
      const int column = left + j * dilation_w;
      if (column < 0 || column >= width) continue;
      const T value = in[row * width + column];
      if (value > best || value != value) {
        best = value;
        tap = i * kernel_w + j;
      }
    }
  }
  values[o] = best;
  // min() keeps a window that reads no input at its first position clipped into the plane
  const int i = tap / kernel_w, j = tap % kernel_w;
  indices[o] = (long long)min(top + i * dilation_h, height - 1) * width + min(left + j * dilation_w, width - 1);
}

// A scatter: the indices are arbitrary (overlapping windows repeat them), so there are no windows to
// gather over; atomicAdd sums the repeats (in a run-dependent order: float32 sums may differ in the
// last bits from run to run).
template <typename T>
__global__ void max_pool2d_backward(const T* __restrict__ grad, const long long* __restrict__ indices,
                                    T* __restrict__ grad_x, int planes, int out_positions, int in_positions) {
  const int o = ember_pool_thread((long long)planes * out_positions);
  if (o < 0) return;
  const long long at = indices[o];
  if (at < 0 || at >= in_positions) return;  // never from max_pool2d_forward; kept from writing out of bounds
  atomicAdd(grad_x + (o / out_positions) * in_positions + (int)at, grad[o]);
}

template <typename T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ out, int planes, int height, int width,
                                   int out_h, int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                                   int padding_h, int padding_w, int count_include_pad, int divisor_override) {
  const int o = ember_pool_thread((long long)planes * out_h * out_w);
  if (o < 0) return;
  const int ow = o % out_w, oh = o / out_w % out_h, plane = o / (out_w * out_h);
  const int top = oh * stride_h - padding_h, left = ow * stride_w - padding_w;
  const T* in = x + plane * height * width;
  T total = T(0);  // row-major taps: the reference's order of summation
  for (int i = 0; i < kernel_h; ++i) {
    const int row = top + i;
    if (row < 0 || row >= height) continue;
    for (int j = 0; j < kernel_w; ++j) {
      const int column = left + j;
      if (column >= 0 && column < width) total += in[row * width + column];
    }
  }
  out[o] = total / ember_pool_divisor<T>(oh, ow, height, width, kernel_h, kernel_w, stride_h, stride_w, padding_h,
                                         padding_w, count_include_pad, divisor_override);
}

template <typename T>
__global__ void avg_pool2d_backward(const T* __restrict__ grad, T* __restrict__ grad_x, int planes, int height,
                                    int width, int out_h, int out_w, int kernel_h, int kernel_w, int stride_h,
                                    int stride_w, int padding_h, int padding_w, int count_include_pad,
                                    int divisor_override) {
  const int e = ember_pool_thread((long long)planes * height * width);
  if (e < 0) return;
  const int column = e % width, row = e / width % height, plane = e / (width * height);
  // in the padded input this element sits at (h, w); window (oh, ow) covers it when
  // oh * stride_h <= h < oh * stride_h + kernel_h, and the same across
  const int h = row + padding_h, w = column + padding_w;
  const int oh_first = h < kernel_h ? 0 : (h - kernel_h) / stride_h + 1, oh_last = min(h / stride_h, out_h - 1);
  const int ow_first = w < kernel_w ? 0 : (w - kernel_w) / stride_w + 1, ow_last = min(w / stride_w, out_w - 1);
  const T* g = grad + plane * out_h * out_w;
  // windows last to first: the reference adds tap by tap, row-major, and a later tap is an earlier window
  T total = T(0);
  for (int oh = oh_last; oh >= oh_first; --oh)
    for (int ow = ow_last; ow >= ow_first; --ow)
      total += g[oh * out_w + ow] / ember_pool_divisor<T>(oh, ow, height, width, kernel_h, kernel_w, stride_h,
                                                          stride_w, padding_h, padding_w, count_include_pad,
                                                          divisor_override);
  grad_x[e] = total;
}
