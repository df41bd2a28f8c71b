// The CUDA builtins ember's kernels use, on the host, so that g++ compiles kernels/cuda/<family>.cu for
// the CUDA host emulator (emulator.cpp runs the kernels; tests/test_cuda_emulator.py says what that proves).
// Included before a kernel source; only what the kernels call is here: a kernel that needs another builtin
// fails to compile, and the builtin belongs here, with CUDA's semantics.
#pragma once

#include <math.h>  // expf, logf, tanhf, erff, sqrtf and the double ones, in the global namespace as in CUDA

#include <atomic>
#include <bit>
#include <source_location>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
// Blocks run one after another and a block's threads share one OS thread, so a function's static is
// exactly one block's shared memory; the emulator fills every such static with NaN bytes before each
// block (what a block finds there on a GPU is undefined too). Dynamic `extern __shared__` memory does
// not compile under this definition: the emulator does not support it.
#define __shared__ static

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
};
constexpr int warpSize = 32;

// The running thread's coordinates (emulator.cpp sets threadIdx at every switch to a thread).
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

namespace ember_emu {
// In emulator.cpp: the calling thread waits at a __syncthreads, or for its warp's lanes in a shuffle.
void sync_threads(std::source_location where);
void shuffle(unsigned mask, const void* value, void* result, int size, int source_lane, std::source_location where);
unsigned lane();
}  // namespace ember_emu

inline void __syncthreads(std::source_location where = std::source_location::current()) {
  ember_emu::sync_threads(where);
}

// The value `var` of lane `source` (the caller's own for -1), exchanged by all lanes of `mask` together.
template <typename T>
T ember_emu_shuffle(unsigned mask, T var, int source, std::source_location where) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "the emulator shuffles values of up to 8 bytes");
  T result;
  ember_emu::shuffle(mask, &var, &result, int(sizeof(T)), source < 0 ? int(ember_emu::lane()) : source, where);
  return result;
}

// CUDA's shuffles within segments of `width` lanes: a source past the caller's segment gives its own value.
inline int ember_emu_before_segment_end(int source, int width) {
  return source < (int(ember_emu::lane()) / width + 1) * width ? source : -1;
}

template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                  std::source_location where = std::source_location::current()) {
  return ember_emu_shuffle(mask, var, ember_emu_before_segment_end(int(ember_emu::lane()) ^ lane_mask, width), where);
}

template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                   std::source_location where = std::source_location::current()) {
  return ember_emu_shuffle(mask, var, ember_emu_before_segment_end(int(ember_emu::lane() + delta), width), where);
}

template <typename T>
T __shfl_sync(unsigned mask, T var, int source_lane, int width = warpSize,
              std::source_location where = std::source_location::current()) {
  return ember_emu_shuffle(mask, var, int(ember_emu::lane()) / width * width + source_lane % width, where);
}

// CUDA's atomicAdd overloads (no signed long long one), atomic as on the GPU.
template <typename T>
T ember_emu_atomic_add(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
inline int atomicAdd(int* address, int value) { return ember_emu_atomic_add(address, value); }
inline unsigned atomicAdd(unsigned* address, unsigned value) { return ember_emu_atomic_add(address, value); }
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  return ember_emu_atomic_add(address, value);
}
inline float atomicAdd(float* address, float value) { return ember_emu_atomic_add(address, value); }
inline double atomicAdd(double* address, double value) { return ember_emu_atomic_add(address, value); }

inline float __int_as_float(int bits) { return std::bit_cast<float>(bits); }
inline int __float_as_int(float value) { return std::bit_cast<int>(value); }
inline double __longlong_as_double(long long bits) { return std::bit_cast<double>(bits); }
inline long long __double_as_longlong(double value) { return std::bit_cast<long long>(value); }

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }

// CUDA's min and max take mixed arguments in the usual arithmetic conversions; on floating point they
// are fminf/fmaxf (a NaN loses to a number).
template <typename A, typename B>
std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return fmin(C(a), C(b));
  else return C(a) < C(b) ? C(a) : C(b);
}

template <typename A, typename B>
std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return fmax(C(a), C(b));
  else return C(a) < C(b) ? C(b) : C(a);
}
