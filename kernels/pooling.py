"""2-D max and average pools over the (H, W) planes of (*, H, W) arrays, forward and backward.

Window (oh, ow) reads input rows ``oh * stride_h - padding_h + i * dilation_h`` (i < kernel_h) and
the matching columns; positions outside the input are padding (-inf for max, 0 for avg). The caller
passes the output size (Ho, Wo), so ceil_mode (a last window reaching past the padding) is its
choice. Semantics follow PyTorch's CPU kernels:

- max: the first maximum of a window wins, but any NaN wins over numbers, the last NaN over
  earlier ones (PyTorch's test is ``value > best or isnan(value)``); a window whose input is all
  -inf reports its first input position. Indices are flat ``h * W + w`` within each plane. A
  window that reads no input (its dilated taps step over it all) gives -inf at its first position
  kept inside the input (PyTorch reports a position past the plane, and its backward then writes
  out of bounds).
- avg: the divisor is ``divisor_override`` if given; else the window's size clipped to the padded
  input (a ceil_mode window reaching past the padding counts only up to it) with
  ``count_include_pad``, or its count of input positions without.

The NumPy references loop over the kernel's positions, each step a strided slice of the whole batch.
"""
import math

import numpy as np

from .cpu_extension import kernel
from .registry import register


def _pad(x, padding, kernel, stride, dilation, output_size, value):
    """x (*, H, W) with ``value`` around it, enough for every window: (*, H', W'); x itself when
    no window reaches outside it."""
    widths = [(0, 0)] * (x.ndim - 2)
    for n, p, k, s, d, o in zip(x.shape[-2:], padding, kernel, stride, dilation, output_size):
        reach = (o - 1) * s + d * (k - 1) + 1 - p  # one past the last position any window reads
        widths.append((p, max(0, reach - n)))
    return np.pad(x, widths, constant_values=value) if any(w != (0, 0) for w in widths) else x


def _offsets(kernel, stride, dilation, output_size):
    """For every kernel position (i, j), row-major: (i, j) and the slices of the padded input that
    the windows read there, (Ho, Wo) of them."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, output_size
    for i in range(kh):
        for j in range(kw):
            yield (i, j), (Ellipsis, slice(i * dh, i * dh + (ho - 1) * sh + 1, sh),
                           slice(j * dw, j * dw + (wo - 1) * sw + 1, sw))


def _first_tap(starts, dilation):
    """Which tap of windows starting at ``starts`` is the first inside the input (PyTorch steps a
    window starting in the padding forward by whole dilations)."""
    return np.where(starts < 0, (dilation - 1 - starts) // dilation, 0)


def max_pool2d_forward(x, kernel, stride, padding, dilation, output_size):
    """Max pool: x (*, H, W) -> (values (*, Ho, Wo), int64 indices (*, Ho, Wo) into each H * W
    plane). kernel, stride, padding, dilation, output_size: (h, w) pairs."""
    height, width = x.shape[-2:]
    padded = _pad(x, padding, kernel, stride, dilation, output_size, -np.inf)
    rows, cols = (np.arange(o) * s - p for o, s, p in zip(output_size, stride, padding))
    values = np.full(x.shape[:-2] + tuple(output_size), -np.inf, x.dtype)
    # the winning tap of each window (row-major in the kernel); no masked writes: with random
    # masks they cost several times these arithmetic passes
    first = _first_tap(rows, dilation[0])[:, None] * kernel[1] + _first_tap(cols, dilation[1])
    tap = np.broadcast_to(first.astype(np.min_scalar_type(-kernel[0] * kernel[1])), values.shape).copy()
    for t, (_, reads) in enumerate(_offsets(kernel, stride, dilation, output_size)):
        candidate = padded[reads]  # padding is -inf: never taken
        tap += ((candidate > values) | np.isnan(candidate)) * (t - tap)
        np.maximum(values, candidate, out=values)  # NaN propagates: NaN wins, as it should
    i, j = np.divmod(tap.astype(np.int64), kernel[1])
    # np.minimum keeps a window that reads no input at its first position kept inside
    return values, (np.minimum(rows[:, None] + i * dilation[0], height - 1) * width
                    + np.minimum(cols + j * dilation[1], width - 1))


def max_pool2d_backward(grad, indices, input_size):
    """Gradient of max_pool2d_forward: grad (*, Ho, Wo) added at ``indices`` (*, Ho, Wo) into zeros
    (*, H, W), input_size = (H, W); repeated indices (overlapping windows) sum."""
    planes, positions = math.prod(grad.shape[:-2]), input_size[0] * input_size[1]
    flat = indices.reshape(planes, -1) + np.arange(planes).reshape(-1, 1) * positions
    total = np.bincount(flat.ravel(), weights=grad.reshape(-1), minlength=planes * positions)
    return total.astype(grad.dtype).reshape(grad.shape[:-2] + tuple(input_size))


def _avg_divisors(input_size, kernel, stride, padding, output_size, count_include_pad, divisor_override,
                  dtype):
    """What each window's sum is divided by: (Ho, Wo), or a scalar for ``divisor_override``."""
    if divisor_override:
        return dtype.type(divisor_override)
    counts = []
    for n, k, s, p, o in zip(input_size, kernel, stride, padding, output_size):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        counts.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    return np.multiply.outer(*counts).astype(dtype)


def avg_pool2d_forward(x, kernel, stride, padding, output_size, count_include_pad, divisor_override):
    """Average pool: x (*, H, W) -> (*, Ho, Wo). kernel, stride, padding, output_size: (h, w)
    pairs; divisor_override: None or a positive int."""
    padded = _pad(x, padding, kernel, stride, (1, 1), output_size, 0)
    total = np.zeros(x.shape[:-2] + tuple(output_size), x.dtype)
    for _, reads in _offsets(kernel, stride, (1, 1), output_size):
        total += padded[reads]
    total /= _avg_divisors(x.shape[-2:], kernel, stride, padding, output_size, count_include_pad,
                           divisor_override, x.dtype)
    return total


def avg_pool2d_backward(grad, input_size, kernel, stride, padding, count_include_pad, divisor_override):
    """Gradient of avg_pool2d_forward: each window's grad (*, Ho, Wo) / divisor spread over the
    window, summed into (*, H, W), input_size = (H, W)."""
    output_size = grad.shape[-2:]
    share = grad / _avg_divisors(input_size, kernel, stride, padding, output_size, count_include_pad,
                                 divisor_override, grad.dtype)
    padded = _pad(np.zeros(grad.shape[:-2] + tuple(input_size), grad.dtype), padding, kernel, stride, (1, 1),
                  output_size, 0)
    for _, reads in _offsets(kernel, stride, (1, 1), output_size):
        padded[reads] += share
    (h, w), (ph, pw) = input_size, padding
    return np.ascontiguousarray(padded[..., ph:ph + h, pw:pw + w])


for _op, _reference in (("max_pool2d_forward", max_pool2d_forward), ("max_pool2d_backward", max_pool2d_backward),
                        ("avg_pool2d_forward", avg_pool2d_forward), ("avg_pool2d_backward", avg_pool2d_backward)):
    register(_op, "cpu", "cpp", kernel(_op))
    register(_op, "cpu", "numpy", lambda reference=_reference: reference)
