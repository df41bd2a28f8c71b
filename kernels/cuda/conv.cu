// im2col and col2im of 2-D convolutions (cross-correlation, as PyTorch); the GEMMs between them are
// cuBLAS's (cupy.matmul in kernels/cuda/conv.py).
//
// Columns hold, for input channel c and kernel position (i, j), row r = (c * kernel_h + i) * kernel_w + j
// of what each output position l = oh * out_w + ow of sample n reads: x[n, c, ih, iw] with
// ih = oh * stride_h - padding_top + i * dilation_h and iw = ow * stride_w - padding_left + j * dilation_w,
// zero where that falls in the padding. Entry (r, n, l) lies at r * row_stride + n * sample_stride + l:
// (N, rows, L) for row_stride = L, sample_stride = rows * L, or (rows, N, L) for row_stride = N * L,
// sample_stride = L. The padding after the input (bottom, right) needs no argument: out_h and out_w fix it.
//
// Launch contract. Both kernels: a 1-d grid of ceil(threads / 256) blocks of 256 threads, no shared
// memory, one thread per element of the array named below (threads past the end return). T is float
// or double. Sizes are int (int32): the host checks that x's and the columns' element counts fit in int32.
//
// conv2d_im2col<T>(const T* x, T* columns, int batch, int channels, int height, int width,
//                  int kernel_h, int kernel_w, int stride_h, int stride_w, int padding_top,
//                  int padding_left, int dilation_h, int dilation_w, int out_h, int out_w,
//                  int row_stride, int sample_stride)
//     x (batch, channels, height, width) C-contiguous -> columns: batch * channels * kernel_h *
//     kernel_w * out_h * out_w entries, one thread per entry; every entry written.
// conv2d_col2im<T>(const T* columns, T* x, ...the same int arguments as conv2d_im2col...)
//     columns as above -> x (batch, channels, height, width): one thread per element of x, the sum of
//     the entries that read it (a gather: no atomics, every element written, zero where none does).
#pragma once

#include "common.cuh"

template <typename T>
__global__ void conv2d_im2col(const T* __restrict__ x, T* __restrict__ columns, int batch, int channels, int height,
                              int width, int kernel_h, int kernel_w, int stride_h, int stride_w, int padding_top,
                              int padding_left, int dilation_h, int dilation_w, int out_h, int out_w,
                              int row_stride, int sample_stride) {
  const int positions = out_h * out_w, rows = channels * kernel_h * kernel_w;
  const long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (index >= (long long)batch * rows * positions) return;
  // threads in (n, r, l) order: neighbours write neighbouring positions, in either layout
  const int e = (int)index;
  const int l = e % positions, r = e / positions % rows, n = e / (positions * rows);
  const int j = r % kernel_w, i = r / kernel_w % kernel_h, c = r / (kernel_w * kernel_h);
  const int ih = l / out_w * stride_h - padding_top + i * dilation_h;
  const int iw = l % out_w * stride_w - padding_left + j * dilation_w;
  const bool inside = ih >= 0 && ih < height && iw >= 0 && iw < width;
  columns[r * row_stride + n * sample_stride + l] = inside ? x[((n * channels + c) * height + ih) * width + iw] : T(0);
}

template <typename T>
__global__ void conv2d_col2im(const T* __restrict__ columns, T* __restrict__ x, int batch, int channels, int height,
                              int width, int kernel_h, int kernel_w, int stride_h, int stride_w, int padding_top,
                              int padding_left, int dilation_h, int dilation_w, int out_h, int out_w,
                              int row_stride, int sample_stride) {
  const long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (index >= (long long)batch * channels * height * width) return;
  const int e = (int)index;
  const int iw = e % width, ih = e / width % height, c = e / (width * height) % channels;
  const int n = e / (width * height * channels);
  // kernel position (i, j) of output (oh, ow) read this element when oh * stride_h = ih + padding_top -
  // i * dilation_h (and the same across): i.e. when that is a multiple of the stride of an output in range
  const int h = ih + padding_top, w = iw + padding_left;
  const T* sample = columns + n * sample_stride;
  T total = T(0);  // kernel positions row-major: the reference's order of summation
  for (int i = 0; i < kernel_h && h - i * dilation_h >= 0; ++i) {
    const int oh_stride = h - i * dilation_h;
    if (oh_stride % stride_h != 0 || oh_stride / stride_h >= out_h) continue;
    const T* row = sample + ((c * kernel_h + i) * kernel_w) * row_stride + oh_stride / stride_h * out_w;
    for (int j = 0; j < kernel_w && w - j * dilation_w >= 0; ++j) {
      const int ow_stride = w - j * dilation_w;
      if (ow_stride % stride_w != 0 || ow_stride / stride_w >= out_w) continue;
      total += row[j * row_stride + ow_stride / stride_w];
    }
  }
  x[e] = total;
}
