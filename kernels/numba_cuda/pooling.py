"""Numba-CUDA kernels of the 2-D max and average pools, forward and backward, over the (H, W) planes
of (*, H, W) arrays seen as (planes, H, W). One thread per output element, except max_pool2d's
backward: one per gradient element, adding it at its index atomically (overlapping windows share
positions). Each takes and returns what its NumPy reference does (kernels/pooling.py), with its
semantics: NaN wins a max window, a window that reads nothing reports its first position kept
inside the input, and the avg divisor rules."""
import functools
import math

import numpy as np

from ..registry import register
from . import arrays


# numba.cuda, imported by _kernels on first use (ember imports without it). The kernels name it as
# a module global because Numba's simulator runs them by swapping a fake module into that global.
cuda = None


@functools.cache
def _kernels(dtype):
    """op -> kernel on (planes, ...) arrays of ``dtype``, one thread per element of its output
    (of the gradient for max_pool2d_backward)."""
    global cuda
    from numba import cuda

    zero, minus_inf, cast = dtype.type(0), dtype.type(-math.inf), dtype.type

    @cuda.jit(device=True)
    def unravel(i, shape):
        """(plane, row, column) of flat index ``i`` into a (planes, rows, columns) array."""
        rest, column = i // shape[2], i % shape[2]
        return rest // shape[1], rest % shape[1], column

    @cuda.jit(device=True)
    def first_inside(start, dilation):
        """The first position >= 0 of taps ``start + k * dilation`` (PyTorch steps a window that
        starts in the padding forward by whole dilations)."""
        return start if start >= 0 else start + (dilation - 1 - start) // dilation * dilation

    @cuda.jit
    def max_pool2d_forward(values, indices, x, kh, kw, sh, sw, ph, pw, dh, dw):
        i = cuda.grid(1)
        if i < values.size:
            p, oh, ow = unravel(i, values.shape)
            height, width = x.shape[1], x.shape[2]
            top, left = oh * sh - ph, ow * sw - pw
            best = minus_inf
            # all -inf, or nothing read: the first tap inside (kept inside when there is none)
            best_index = min(first_inside(top, dh), height - 1) * width + min(first_inside(left, dw), width - 1)
            for a in range(kh):
                r = top + a * dh
                if 0 <= r < height:
                    for b in range(kw):
                        c = left + b * dw
                        if 0 <= c < width:
                            v = x[p, r, c]
                            if v > best or v != v:  # the first maximum wins, but the last NaN
                                best, best_index = v, r * width + c
            values[p, oh, ow] = best
            indices[p, oh, ow] = best_index

    @cuda.jit
    def max_pool2d_backward(out, grad, indices):
        # out (planes, H * W) of zeros; grad, indices (planes, Ho, Wo)
        i = cuda.grid(1)
        if i < grad.size:
            p, oh, ow = unravel(i, grad.shape)
            cuda.atomic.add(out, (p, indices[p, oh, ow]), grad[p, oh, ow])

    @cuda.jit(device=True)
    def window(o, kernel, stride, padding, size):
        """Window ``o`` along one dim: its span (start, end) in the padded input, a ceil_mode window
        cut at the padding's end, and the part inside the input."""
        start = o * stride - padding
        end = min(start + kernel, size + padding)
        return start, end, max(start, 0), min(end, size)

    @cuda.jit(device=True)
    def divisor(oh, ow, kh, kw, sh, sw, ph, pw, height, width, count_include_pad, divisor_override):
        """What window (oh, ow)'s sum is divided by, and its rows and columns inside the input."""
        top, bottom, r0, r1 = window(oh, kh, sh, ph, height)
        left, right, c0, c1 = window(ow, kw, sw, pw, width)
        if divisor_override:
            count = divisor_override
        elif count_include_pad:
            count = (bottom - top) * (right - left)
        else:
            count = (r1 - r0) * (c1 - c0)
        return cast(count), r0, r1, c0, c1

    @cuda.jit
    def avg_pool2d_forward(out, x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
        i = cuda.grid(1)
        if i < out.size:
            p, oh, ow = unravel(i, out.shape)
            count, r0, r1, c0, c1 = divisor(oh, ow, kh, kw, sh, sw, ph, pw, x.shape[1], x.shape[2],
                                            count_include_pad, divisor_override)
            total = zero
            for r in range(r0, r1):
                for c in range(c0, c1):
                    total += x[p, r, c]
            out[p, oh, ow] = total / count

    @cuda.jit(device=True)
    def covering(h, kernel, stride, padding, outputs):
        """The windows o0 <= o < o1 whose span holds input position ``h``: o * stride - padding
        <= h < o * stride - padding + kernel (a ceil_mode window's cut is past every input)."""
        return (max(h + padding - kernel + 1, 0) + stride - 1) // stride, min((h + padding) // stride + 1, outputs)

    @cuda.jit
    def avg_pool2d_backward(out, grad, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
        # gathers each window's share, grad / divisor, into the positions it covers: no atomics
        i = cuda.grid(1)
        if i < out.size:
            p, h, w = unravel(i, out.shape)
            height, width = out.shape[1], out.shape[2]
            oh0, oh1 = covering(h, kh, sh, ph, grad.shape[1])
            ow0, ow1 = covering(w, kw, sw, pw, grad.shape[2])
            total = zero
            for oh in range(oh0, oh1):
                for ow in range(ow0, ow1):
                    count, _, _, _, _ = divisor(oh, ow, kh, kw, sh, sw, ph, pw, height, width,
                                                count_include_pad, divisor_override)
                    total += grad[p, oh, ow] / count
            out[p, h, w] = total

    return {"max_pool2d_forward": max_pool2d_forward, "max_pool2d_backward": max_pool2d_backward,
            "avg_pool2d_forward": avg_pool2d_forward, "avg_pool2d_backward": avg_pool2d_backward}


def _launch(op, dtype, threads, *args):
    """Kernel ``op`` with ``threads`` threads in all, one per element of its output (or gradient)."""
    if threads:
        blocks, block = arrays.launch(threads)
        _kernels(dtype)[op][blocks, block](*args)


def _planes(array):
    """``array`` (*, H, W) as a C-contiguous (planes, H, W) array."""
    planes = math.prod(array.shape[:-2])
    return arrays.library(array).ascontiguousarray(array).reshape((planes,) + array.shape[-2:])


def max_pool2d_forward(x, kernel, stride, padding, dilation, output_size):
    """x (*, H, W) -> (values (*, Ho, Wo), int64 indices (*, Ho, Wo) into each H * W plane)."""
    dtype, xp = arrays.float_dtype(x, "max_pool2d_forward"), arrays.library(x)
    shape = x.shape[:-2] + tuple(output_size)
    values, indices = xp.empty(shape, dtype), xp.empty(shape, np.int64)
    _launch("max_pool2d_forward", dtype, values.size,
            _planes(values), _planes(indices), _planes(x), *kernel, *stride, *padding, *dilation)
    return values, indices


def max_pool2d_backward(grad, indices, input_size):
    """grad (*, Ho, Wo) added at ``indices`` (*, Ho, Wo) into zeros (*, H, W), input_size = (H, W)."""
    dtype, xp = arrays.float_dtype(grad, "max_pool2d_backward"), arrays.library(grad)
    planes = math.prod(grad.shape[:-2])
    out = xp.zeros((planes, input_size[0] * input_size[1]), dtype)
    _launch("max_pool2d_backward", dtype, grad.size, out, _planes(grad), _planes(indices))
    return out.reshape(grad.shape[:-2] + tuple(input_size))


def _avg(op, source, out_size, kernel, stride, padding, count_include_pad, divisor_override):
    """avg_pool2d_forward (source x) or _backward (source grad): source (*, ., .) -> (*, *out_size)."""
    dtype, xp = arrays.float_dtype(source, op), arrays.library(source)
    out = xp.empty(source.shape[:-2] + tuple(out_size), dtype)
    _launch(op, dtype, out.size, _planes(out), _planes(source), *kernel, *stride, *padding,
            bool(count_include_pad), int(divisor_override or 0))
    return out


def avg_pool2d_forward(x, kernel, stride, padding, output_size, count_include_pad, divisor_override):
    """x (*, H, W) -> (*, Ho, Wo); divisor_override: None or a positive int."""
    return _avg("avg_pool2d_forward", x, output_size, kernel, stride, padding, count_include_pad, divisor_override)


def avg_pool2d_backward(grad, input_size, kernel, stride, padding, count_include_pad, divisor_override):
    """grad (*, Ho, Wo) -> (*, H, W), input_size = (H, W): each window's grad / divisor spread over it."""
    return _avg("avg_pool2d_backward", grad, input_size, kernel, stride, padding, count_include_pad,
                divisor_override)


KERNELS = {"max_pool2d_forward": max_pool2d_forward, "max_pool2d_backward": max_pool2d_backward,
           "avg_pool2d_forward": avg_pool2d_forward, "avg_pool2d_backward": avg_pool2d_backward}

for _op, _function in KERNELS.items():
    register(_op, "cuda", "numba", arrays.loader(_function))
