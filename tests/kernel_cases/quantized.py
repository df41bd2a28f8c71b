"""int8_matmul, quantized_linear and quantized_conv2d: random sizes around the C++ GEMM's 6 x 16 tiles
and 2-row pairs (odd K), int8 entries that are all -128 or 127 (the largest products), inputs that
overflow the int8 range (clamped), zero points at both ends, and convolutions with stride, padding and
dilation. Integer outputs must match exactly; the float outputs differ only in the last float32 bits of
the final scaling. The cases draw their own dtypes (int8 and float32): ``dtype`` only names the run."""
import numpy as np
from kernel_check import KernelCase


def _size(rng, edges=(1, 5, 6, 7, 15, 16, 17, 33)):
    return int(rng.choice(edges)) if rng.random() < 0.5 else int(rng.integers(1, 70))


def _int8(rng, shape):
    """Random int8, or (a third of the time each) all -128 or all 127 with random signs flipped in."""
    kind = rng.integers(3)
    if kind == 0:
        return rng.integers(-128, 128, shape).astype(np.int8)
    extreme = np.full(shape, -128 if kind == 1 else 127, np.int8)
    return np.where(rng.random(shape) < 0.2, np.int8(127) if kind == 1 else np.int8(-128), extreme)


def _matmul(rng, dtype):
    m, k, n = _size(rng), _size(rng), _size(rng)
    return _int8(rng, (m, k)), _int8(rng, (k, n))


def _grid(rng, out_channels):
    """weight_scale, x_scale and x_zero_point (at an end of the range a third of the time each)."""
    zero_point = int(rng.choice([-128, 127, int(rng.integers(-128, 128))]))
    return (rng.uniform(1e-3, 1e-2, out_channels).astype(np.float32), float(rng.uniform(0.01, 0.05)),
            zero_point)


def _bias(rng, out_channels):
    return rng.normal(size=out_channels).astype(np.float32) if rng.random() < 0.7 else None


def _linear(rng, dtype):
    n, k, m = _size(rng), _size(rng), _size(rng)
    weight_scale, x_scale, zero_point = _grid(rng, m)
    x = rng.normal(0, 2, (n, k)).astype(np.float32)  # some beyond the grid's +-128 * x_scale reach
    return x, _int8(rng, (m, k)), weight_scale, _bias(rng, m), x_scale, zero_point


def _conv2d(rng, dtype, big=False, empty=False):
    batch, channels, m = (8, 6, 16) if big else (int(rng.integers(1, 4)), int(rng.integers(1, 5)),
                                                  int(rng.integers(1, 20)))
    batch = 0 if empty else batch
    kernel = (5, 5) if big else tuple(int(k) for k in rng.integers(1, 6, 2))
    stride = (1, 1) if big else tuple(int(s) for s in rng.choice([1, 1, 2, 3], 2))
    dilation = (1, 1) if big else tuple(int(d) for d in rng.choice([1, 1, 2], 2))
    padding = ((2, 2), (2, 2)) if big else tuple((int(b), int(a)) for b, a in rng.integers(0, 3, (2, 2)))
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = [14, 14] if big else [max(int(rng.integers(1, 24)), s - sum(p)) for s, p in zip(span, padding)]
    weight_scale, x_scale, zero_point = _grid(rng, m)
    x = rng.normal(0, 2, (batch, channels, *size)).astype(np.float32)
    return (x, _int8(rng, (m, channels, *kernel)), weight_scale, _bias(rng, m), x_scale, zero_point, stride, padding,
            dilation)


def _empty_matmul(rng, dtype):
    m, k, n = (_size(rng) for _ in range(3))
    zero = int(rng.integers(3))  # one of M, K, N is 0 (K = 0: all sums are 0)
    return _int8(rng, (0 if zero == 0 else m, 0 if zero == 1 else k)), _int8(rng, (0 if zero == 1 else k,
                                                                                  0 if zero == 2 else n))


CASES = [
    KernelCase("int8_matmul", _matmul, dtypes=(np.float32,)),
    KernelCase("int8_matmul", _empty_matmul, "empty", dtypes=(np.float32,)),
    KernelCase("int8_matmul", lambda rng, dtype: (_int8(rng, (70, 300)), _int8(rng, (300, 900))), "parallel",
               dtypes=(np.float32,)),
    KernelCase("quantized_linear", _linear, rtol=1e-6, atol=1e-5, dtypes=(np.float32,)),
    KernelCase("quantized_conv2d", _conv2d, rtol=1e-6, atol=1e-5, dtypes=(np.float32,)),
    KernelCase("quantized_conv2d", lambda rng, dtype: _conv2d(rng, dtype, empty=True), "empty-batch",
               dtypes=(np.float32,)),
    KernelCase("quantized_conv2d", lambda rng, dtype: _conv2d(rng, dtype, big=True), "parallel", rtol=1e-6, atol=1e-5,
               dtypes=(np.float32,)),
]
