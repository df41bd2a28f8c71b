// Kernels that break CUDA's rules, each in one way, and two that keep them: tests/test_cuda_emulator.py
// checks that the emulator reports every fault (a test of the test). Launch contracts: one block of
// `blockDim.x` threads unless a test says otherwise; arrays as each kernel's comment says.
#pragma once

// Threads at or past `count` return before a __syncthreads that the others wait at. out: (blockDim.x,).
template <typename T>
__global__ void return_before_sync(T* out, int count) {
  if (threadIdx.x >= count) return;
  __syncthreads();
  out[threadIdx.x] = T(1);
}

// A block sum that forgets the __syncthreads between the shared writes and thread 0's reads.
// x: (blockDim.x,) with blockDim.x <= 64, out: (1,).
template <typename T>
__global__ void unsynchronised_sum(const T* x, T* out) {
  __shared__ T values[64];
  values[threadIdx.x] = x[threadIdx.x];
  if (threadIdx.x != 0) return;
  T total = T(0);
  for (unsigned i = 0; i < blockDim.x; ++i) total += values[i];
  out[0] = total;
}

// Each thread writes its own index, past the end of `out` where the launch has more threads than out
// has elements.
template <typename T>
__global__ void write_every_thread(T* out) {
  out[blockIdx.x * blockDim.x + threadIdx.x] = T(threadIdx.x);
}

// Each warp's sum to all its lanes, by full-mask shuffles (common.cuh's ember_warp_sum): right in
// blocks of whole warps, a fault in others. x, out: (blockDim.x,).
template <typename T>
__global__ void warp_sums(const T* x, T* out) {
  T value = x[threadIdx.x];
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  out[threadIdx.x] = value;
}

// Half a warp shuffles with the whole warp while the other half waits at a __syncthreads: a deadlock.
// out: (blockDim.x,).
template <typename T>
__global__ void shuffle_or_sync(T* out) {
  T value = T(1);
  if (threadIdx.x < 16)
    value = __shfl_xor_sync(0xffffffffu, value, 1);
  else
    __syncthreads();
  out[threadIdx.x] = value;
}

// Reads shared memory that no thread of the block wrote. out: (blockDim.x,), blockDim.x <= 32.
template <typename T>
__global__ void read_unwritten_shared(T* out) {
  __shared__ T values[32];
  out[threadIdx.x] = values[threadIdx.x];
}

// Every thread of the grid adds 1 to total[0] (zero before): atomics. total: (1,).
template <typename T>
__global__ void count_threads(T* total) {
  atomicAdd(total, T(1));
}
