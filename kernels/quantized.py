"""Kernels of int8 quantized layers: the exact int8 x int8 -> int32 matrix product, and the forward of
a quantized Linear and Conv2d from a float input to a float output.

A quantized layer holds an int8 weight W_q (M, K) with one scale per output row (w = s_w[m] * W_q, a
symmetric grid) and quantizes its input per tensor with a scale and a zero point,
q = clamp(round(x / s_x) + z_x, -128, 127), so x ~ s_x * (q - z_x). Then

    y[m] = s_x * s_w[m] * sum_k W_q[m, k] * (q[k] - z_x) + bias[m]
         = s_x * s_w[m] * (int8_matmul(W_q, q)[m] - z_x * sum_k W_q[m, k]) + bias[m]

with the sum exact in int32. "numpy" computes exactly that (the convolution through kernels/conv.py's
im2col of the quantized input, padded with the zero point: a quantized 0). "cpp" (``cpu/quantized.cpp``)
does it in one pass: it quantizes the input, packs it for its GEMM (a convolution's windows are read
from the quantized input, no columns are made) and scales the int32 sums into the float output.

Rounding is to nearest even and x / s_x is computed as x * (1 / s_x) in float32, as PyTorch does, so
that both implementations (and fake quantization) pick the same integers.
"""
import numpy as np

from . import conv
from .cpu_extension import load
from .registry import register

QUANT_MIN, QUANT_MAX = -128, 127


def inverse_scale(scale):
    """1 / scale in float32, as PyTorch's quantizers compute it (x * inv_scale, not x / scale)."""
    return np.float32(1) / np.asarray(scale, np.float32)


def quantize(x, scale, zero_point, quant_min=QUANT_MIN, quant_max=QUANT_MAX):
    """clamp(round(x / scale) + zero_point, quant_min, quant_max) as integers in float32 (exact);
    ``scale`` and ``zero_point`` broadcast against x (per tensor or per channel)."""
    return np.clip(np.rint(x.astype(np.float32, copy=False) * inverse_scale(scale)) + zero_point,
                   quant_min, quant_max)


def _output_scale(x_scale, weight_scale):
    """s_x * s_w per output, in float32 (both implementations scale the int32 sums by it)."""
    return np.float32(x_scale) * np.asarray(weight_scale, np.float32)


def _check_depth(op, k, limit):
    if k > limit:
        raise ValueError(f"{op}: the inner dimension {k} is too long for exact int32 sums (at most {limit})")


# ---- NumPy reference ------------------------------------------------------------------------------

def int8_matmul(a, b):
    """a (M, K) int8 x b (K, N) int8 -> (M, N) int32, exact (K * 128 * 128 < 2^31)."""
    for name, array in (("a", a), ("b", b)):
        if array.dtype != np.int8:
            raise TypeError(f"int8_matmul: expected {name} of dtype int8, got {array.dtype}")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"int8_matmul: a and b shapes cannot be multiplied ({'x'.join(map(str, a.shape))} and "
                         f"{'x'.join(map(str, b.shape))}); expected matrices (M, K) and (K, N)")
    _check_depth("int8_matmul", a.shape[1], 131071)
    return np.matmul(a.astype(np.int32), b.astype(np.int32))


def _scaled(acc, weight_q, x_scale, x_zero_point, weight_scale, bias):
    """int32 sums (..., M, P) of W_q x q -> float32 s_x s_w (sums - z_x sum_k W_q) + bias."""
    row_sums = weight_q.reshape(weight_q.shape[0], -1).astype(np.int32).sum(1)
    out = (acc - np.int32(x_zero_point) * row_sums[:, None]).astype(np.float32)
    out *= _output_scale(x_scale, weight_scale)[:, None]
    if bias is not None:
        out += np.asarray(bias, np.float32)[:, None]
    return out


def _check_layer(op, x, weight, x_zero_point):
    if weight.dtype != np.int8:
        raise TypeError(f"{op}: expected weight of dtype int8, got {weight.dtype}")
    if x.dtype != np.float32:
        raise TypeError(f"{op}: expected a float32 input, got {x.dtype}")
    if not QUANT_MIN <= x_zero_point <= QUANT_MAX:
        raise ValueError(f"{op}: zero_point must lie in [{QUANT_MIN}, {QUANT_MAX}], got {x_zero_point}")


def quantized_linear(x, weight, weight_scale, bias, x_scale, x_zero_point):
    """x (N, K) float32, weight (M, K) int8, weight_scale (M,), bias (M,) or None -> (N, M) float32."""
    _check_layer("quantized_linear", x, weight, x_zero_point)
    _check_depth("quantized_linear", x.shape[1], 65793)
    q = quantize(x, x_scale, x_zero_point).astype(np.int8)
    return _scaled(int8_matmul(weight, np.ascontiguousarray(q.T)), weight, x_scale, x_zero_point,
                   weight_scale, bias).T.copy()


def quantized_conv2d(x, weight, weight_scale, bias, x_scale, x_zero_point, stride, padding, dilation):
    """x (N, C, H, W) float32, weight (M, C, kh, kw) int8 -> (N, M, Ho, Wo) float32. ``stride`` and
    ``dilation`` (h, w), ``padding`` ((top, bottom), (left, right)), as kernels/conv.py's."""
    _check_layer("quantized_conv2d", x, weight, x_zero_point)
    _check_depth("quantized_conv2d", weight[0].size, 65793)
    q = np.pad(quantize(x, x_scale, x_zero_point).astype(np.int8), ((0, 0), (0, 0)) + tuple(padding),
               constant_values=x_zero_point)
    output = conv.output_size(q.shape[2:], weight.shape[2:], stride, ((0, 0), (0, 0)), dilation)
    columns = conv._numpy_columns(q, weight.shape[2:], stride, ((0, 0), (0, 0)), dilation, output)  # (N, K, P)
    acc = np.stack([int8_matmul(weight.reshape(weight.shape[0], -1), c) for c in columns]) if len(columns) else \
        np.zeros((0, weight.shape[0], output[0] * output[1]), np.int32)
    out = _scaled(acc, weight, x_scale, x_zero_point, weight_scale, bias)
    return out.reshape(x.shape[0], weight.shape[0], *output)


# ---- C++ ------------------------------------------------------------------------------------------

def _cpp_kernels():
    """The "cpp" implementation of each op, by op name (ImportError says why the extension is missing)."""
    cpu = load()

    def linear(x, weight, weight_scale, bias, x_scale, x_zero_point):
        return cpu.quantized_linear(x, weight, float(inverse_scale(x_scale)), int(x_zero_point),
                                    _output_scale(x_scale, weight_scale), bias)

    def conv2d(x, weight, weight_scale, bias, x_scale, x_zero_point, stride, padding, dilation):
        return cpu.quantized_conv2d(x, weight, float(inverse_scale(x_scale)), int(x_zero_point),
                                    _output_scale(x_scale, weight_scale), bias, tuple(stride),
                                    tuple(tuple(p) for p in padding), tuple(dilation))

    return {"int8_matmul": cpu.int8_matmul, "quantized_linear": linear, "quantized_conv2d": conv2d}


for _op, _reference in (("int8_matmul", int8_matmul), ("quantized_linear", quantized_linear),
                        ("quantized_conv2d", quantized_conv2d)):
    register(_op, "cpu", "cpp", lambda op=_op: _cpp_kernels()[op])
    register(_op, "cpu", "numpy", lambda reference=_reference: reference)
