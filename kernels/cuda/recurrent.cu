// LSTM and GRU cells: a time step's gate nonlinearities and state update, forward and backward, fused
// into one kernel each, on the gate pre-activations (the GEMMs stay with the caller). Gates in
// PyTorch's order: LSTM (input, forget, cell, output), GRU (reset, update, new). The math is that of
// the NumPy references in kernels/recurrent.py.
//
// Launch contract. Every kernel: a 1-d grid of ceil(batch * hidden / 256) blocks of 256 threads, no
// shared memory, one thread per (sample n, hidden unit j) (threads past the end return). T is float or
// double. Sizes are int (int32): the host checks that every array's element count fits in int32. All
// arrays C-contiguous; gate k of unit j of sample n is element n * (G * hidden) + k * hidden + j of a
// (batch, G * hidden) array.
//
// lstm_cell_forward<T>(const T* gates, const T* c_prev, T* hc, T* acts, T* tanh_c, int batch, int hidden)
//     gates (batch, 4 * hidden), c_prev (batch, hidden) -> hc (2, batch, hidden): h then c; acts
//     (batch, 4 * hidden): i, f, g, o; tanh_c (batch, hidden).
// lstm_cell_backward<T>(const T* grad_h, const T* grad_c, const T* acts, const T* tanh_c, const T* c_prev,
//                       T* grad_gates, T* grad_c_prev, int batch, int hidden)
//     grad_h, grad_c, tanh_c, c_prev (batch, hidden), acts (batch, 4 * hidden) -> grad_gates
//     (batch, 4 * hidden), grad_c_prev (batch, hidden).
// gru_cell_forward<T>(const T* projected, const T* hidden_gates, const T* h_prev, T* h, T* acts, int batch,
//                     int hidden)
//     projected, hidden_gates (batch, 3 * hidden), h_prev (batch, hidden) -> h (batch, hidden), acts
//     (batch, 3 * hidden): r, z, n.
// gru_cell_backward<T>(const T* grad_h, const T* acts, const T* hidden_gates, const T* h_prev,
//                      T* grad_projected, T* grad_hidden_gates, T* grad_h_prev, int batch, int hidden)
//     grad_h, h_prev (batch, hidden), acts, hidden_gates (batch, 3 * hidden) -> grad_projected,
//     grad_hidden_gates (batch, 3 * hidden), grad_h_prev (batch, hidden): grad_h * z, the share of
//     h_prev's gradient that does not go through the weights.
#pragma once

#include "common.cuh"

// This thread's element of a (batch, hidden) array, or -1 past the end.
__device__ __forceinline__ int ember_cell_thread(int batch, int hidden) {
  const long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  return index < (long long)batch * hidden ? (int)index : -1;
}

// Where element e's gate 0 lies in a (batch, gates * hidden) array; gate k is k * hidden further.
__device__ __forceinline__ int ember_cell_gate0(int e, int hidden, int gates) {
  return e / hidden * gates * hidden + e % hidden;
}

template <typename T>
__global__ void lstm_cell_forward(const T* __restrict__ gates, const T* __restrict__ c_prev, T* __restrict__ hc,
                                  T* __restrict__ acts, T* __restrict__ tanh_c, int batch, int hidden) {
  const int e = ember_cell_thread(batch, hidden);
  if (e < 0) return;
  const int at = ember_cell_gate0(e, hidden, 4);
  const T i = ember_sigmoid(gates[at]), f = ember_sigmoid(gates[at + hidden]);
  const T g = ember_tanh(gates[at + 2 * hidden]), o = ember_sigmoid(gates[at + 3 * hidden]);
  const T c = f * c_prev[e] + i * g;
  const T t = ember_tanh(c);
  acts[at] = i, acts[at + hidden] = f, acts[at + 2 * hidden] = g, acts[at + 3 * hidden] = o;
  hc[e] = o * t;                    // h
  hc[batch * hidden + e] = c;
  tanh_c[e] = t;
}

template <typename T>
__global__ void lstm_cell_backward(const T* __restrict__ grad_h, const T* __restrict__ grad_c,
                                   const T* __restrict__ acts, const T* __restrict__ tanh_c,
                                   const T* __restrict__ c_prev, T* __restrict__ grad_gates,
                                   T* __restrict__ grad_c_prev, int batch, int hidden) {
  const int e = ember_cell_thread(batch, hidden);
  if (e < 0) return;
  const int at = ember_cell_gate0(e, hidden, 4);
  const T i = acts[at], f = acts[at + hidden], g = acts[at + 2 * hidden], o = acts[at + 3 * hidden];
  const T t = tanh_c[e], gh = grad_h[e];
  // c reaches the loss directly and through h = o tanh(c), where d tanh = 1 - tanh^2
  const T gc = grad_c[e] + gh * o * (T(1) - t * t);
  grad_gates[at] = gc * g * i * (T(1) - i);
  grad_gates[at + hidden] = gc * c_prev[e] * f * (T(1) - f);
  grad_gates[at + 2 * hidden] = gc * i * (T(1) - g * g);
  grad_gates[at + 3 * hidden] = gh * t * o * (T(1) - o);
  grad_c_prev[e] = gc * f;
}

template <typename T>
__global__ void gru_cell_forward(const T* __restrict__ projected, const T* __restrict__ hidden_gates,
                                 const T* __restrict__ h_prev, T* __restrict__ h, T* __restrict__ acts, int batch,
                                 int hidden) {
  const int e = ember_cell_thread(batch, hidden);
  if (e < 0) return;
  const int at = ember_cell_gate0(e, hidden, 3);
  const T r = ember_sigmoid(projected[at] + hidden_gates[at]);
  const T z = ember_sigmoid(projected[at + hidden] + hidden_gates[at + hidden]);
  const T n = ember_tanh(projected[at + 2 * hidden] + r * hidden_gates[at + 2 * hidden]);
  acts[at] = r, acts[at + hidden] = z, acts[at + 2 * hidden] = n;
  h[e] = n + z * (h_prev[e] - n);  // (1 - z) n + z h_prev
}

template <typename T>
__global__ void gru_cell_backward(const T* __restrict__ grad_h, const T* __restrict__ acts,
                                  const T* __restrict__ hidden_gates, const T* __restrict__ h_prev,
                                  T* __restrict__ grad_projected, T* __restrict__ grad_hidden_gates,
                                  T* __restrict__ grad_h_prev, int batch, int hidden) {
  const int e = ember_cell_thread(batch, hidden);
  if (e < 0) return;
  const int at = ember_cell_gate0(e, hidden, 3);
  const T r = acts[at], z = acts[at + hidden], n = acts[at + 2 * hidden], gh = grad_h[e];
  const T grad_n = gh * (T(1) - z) * (T(1) - n * n);  // h = n + z (h_prev - n); tanh' = 1 - n^2
  const T grad_r = grad_n * hidden_gates[at + 2 * hidden] * r * (T(1) - r);
  const T grad_z = gh * (h_prev[e] - n) * z * (T(1) - z);
  grad_projected[at] = grad_hidden_gates[at] = grad_r;
  grad_projected[at + hidden] = grad_hidden_gates[at + hidden] = grad_z;
  grad_projected[at + 2 * hidden] = grad_n;
  grad_hidden_gates[at + 2 * hidden] = grad_n * r;
  grad_h_prev[e] = gh * z;
}
