// Helpers shared by ember's CUDA kernels. Every kernels/cuda/*.cu file includes this one, and must compile
// both under NVRTC (CuPy's RawModule, which has no standard headers) and under nvcc (the _cuda extension),
// so nothing here includes a header: the math functions are the CUDA builtins, overloaded by scalar type.
#pragma once

// ember_NAME<T>(x): the float builtin for float, the double one for double.
#define EMBER_MATH(name, float_builtin, double_builtin)                                                   \
  template <typename T> __device__ __forceinline__ T name(T x);                                          \
  template <> __device__ __forceinline__ float name<float>(float x) { return float_builtin(x); }         \
  template <> __device__ __forceinline__ double name<double>(double x) { return double_builtin(x); }

EMBER_MATH(ember_exp, expf, exp)
EMBER_MATH(ember_log, logf, log)
EMBER_MATH(ember_tanh, tanhf, tanh)
EMBER_MATH(ember_erf, erff, erf)
EMBER_MATH(ember_sqrt, sqrtf, sqrt)
EMBER_MATH(ember_rsqrt, rsqrtf, rsqrt)
#undef EMBER_MATH

template <typename T> __device__ __forceinline__ T ember_sigmoid(T x) { return T(1) / (T(1) + ember_exp(-x)); }

// -infinity without <limits>: the largest finite value is not a safe start for a max when inputs hold -inf.
template <typename T> __device__ __forceinline__ T ember_neg_inf();
template <> __device__ __forceinline__ float ember_neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double ember_neg_inf<double>() { return __longlong_as_double(0xfff0000000000000ULL); }

template <typename T> __device__ __forceinline__ T ember_nan();
template <> __device__ __forceinline__ float ember_nan<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double ember_nan<double>() { return __longlong_as_double(0x7ff8000000000000LL); }

// NaN-propagating max, as torch.max and NumPy's maximum: a NaN anywhere in a row wins.
template <typename T> __device__ __forceinline__ T ember_max(T a, T b) { return (a != a || a > b) ? a : b; }

// Sum of `value` over one warp (all 32 lanes active), returned to every lane.
template <typename T> __device__ __forceinline__ T ember_warp_sum(T value) {
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

template <typename T> __device__ __forceinline__ T ember_warp_max(T value) {
  for (int offset = 16; offset > 0; offset >>= 1) value = ember_max(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// Sum over a whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
// `scratch` is __shared__ storage of 32 T's; the call synchronises the block, so all threads must reach it.
template <typename T> __device__ T ember_block_sum(T value, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  value = ember_warp_sum(value);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch[lane] : T(0);
  return ember_warp_sum(value);
}

template <typename T> __device__ T ember_block_max(T value, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  value = ember_warp_max(value);
  __syncthreads();
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch[lane] : ember_neg_inf<T>();
  return ember_warp_max(value);
}
