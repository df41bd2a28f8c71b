"""2-D convolution kernels: the forward, and its gradients in the input and in the weight (a 1-D
convolution is a 2-D one of height 1). Cross-correlation, as PyTorch.

Every kernel takes the geometry as pairs (height, width): ``stride`` (sh, sw), ``padding``
((top, bottom), (left, right)), ``dilation`` (dh, dw), and ``groups``. Output position (oh, ow) reads
the padded input at (oh * sh + i * dh, ow * sw + j * dw) for kernel position (i, j).

Both implementations are im2col + GEMM: columns hold, per input channel and kernel position, what every
output position reads, so a convolution is a matmul per group. "numpy" builds the columns per sample,
(N, C * kh * kw, Ho * Wo), from a strided view and scatters them back with strided adds. "cpp" builds
them in C++ (``cpu/conv.cpp``) with all samples side by side, (C * kh * kw, N * Ho * Wo), so that each
GEMM is one matmul; it skips them for 1x1 kernels and does col2im (the scatter-add back) in C++ too.
"""
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .cpu_extension import load
from .registry import register


def output_size(input_size, kernel_size, stride, padding, dilation):
    """(Ho, Wo) of a convolution of an (H, W) input."""
    return tuple((n + before + after - d * (k - 1) - 1) // s + 1 for n, k, s, (before, after), d in
                 zip(input_size, kernel_size, stride, padding, dilation))


def _grouped_weight(weight, groups):
    """weight (O, C/g, kh, kw) as (g, O/g, C/g * kh * kw)."""
    return weight.reshape(groups, weight.shape[0] // groups, -1)


# ---- NumPy reference ------------------------------------------------------------------------------

def _by_group(array, groups):
    """(N, channels, ..., L) as (N, g, channels/g * ..., L): each group's rows."""
    return array.reshape(array.shape[0], groups, math.prod(array.shape[1:-1]) // groups, array.shape[-1])


def _numpy_columns(x, kernel_size, stride, padding, dilation, output):
    """im2col: x (N, C, H, W) -> (N, C * kh * kw, Ho * Wo), from a strided view of the padded input."""
    padded = np.pad(x, ((0, 0), (0, 0)) + tuple(padding))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    windows = sliding_window_view(padded, span, axis=(2, 3))[
        :, :, :(output[0] - 1) * stride[0] + 1:stride[0], :(output[1] - 1) * stride[1] + 1:stride[1],
        ::dilation[0], ::dilation[1]]  # (N, C, Ho, Wo, kh, kw)
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(
        x.shape[0], x.shape[1] * kernel_size[0] * kernel_size[1], output[0] * output[1])


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """x (N, C, H, W), weight (O, C/g, kh, kw), bias (O,) or None -> (N, O, Ho, Wo)."""
    output = output_size(x.shape[2:], weight.shape[2:], stride, padding, dilation)
    columns = _numpy_columns(x, weight.shape[2:], stride, padding, dilation, output)
    out = (_grouped_weight(weight, groups) @ _by_group(columns, groups)).reshape(x.shape[0], weight.shape[0], *output)
    if bias is not None:
        out += bias.reshape(-1, 1, 1)
    return out


def conv2d_backward_input(grad, weight, input_size, stride, padding, dilation, groups):
    """The gradient in x: grad (N, O, Ho, Wo), weight (O, C/g, kh, kw), input_size (H, W) -> (N, C, H, W).
    Rows and columns of x past the last window's reach get zeros."""
    n, (kh, kw), output, (top, bottom), (left, right) = grad.shape[0], weight.shape[2:], grad.shape[2:], *padding
    grad = grad.reshape(n, grad.shape[1], output[0] * output[1])
    columns = _grouped_weight(weight, groups).swapaxes(1, 2) @ _by_group(grad, groups)  # (N, g, C/g * kh * kw, L)
    columns = columns.reshape(n, weight.shape[1] * groups, kh, kw, *output)
    padded = np.zeros(columns.shape[:2] + (input_size[0] + top + bottom, input_size[1] + left + right), grad.dtype)
    for i in range(kh):  # col2im: add each kernel position's entries back where they were read
        for j in range(kw):
            rows = slice(i * dilation[0], i * dilation[0] + (output[0] - 1) * stride[0] + 1, stride[0])
            cols = slice(j * dilation[1], j * dilation[1] + (output[1] - 1) * stride[1] + 1, stride[1])
            padded[:, :, rows, cols] += columns[:, :, i, j]
    return np.ascontiguousarray(padded[:, :, top:top + input_size[0], left:left + input_size[1]])


def conv2d_backward_weight(x, grad, kernel_size, stride, padding, dilation, groups):
    """The gradient in the weight: x (N, C, H, W), grad (N, O, Ho, Wo), kernel_size (kh, kw) ->
    (O, C/g, kh, kw). x may reach past the last window (those pixels are not read)."""
    n, out_channels, *output = grad.shape
    columns = _numpy_columns(x, kernel_size, stride, padding, dilation, output)
    grad = grad.reshape(n, out_channels, output[0] * output[1])
    per_sample = _by_group(grad, groups) @ _by_group(columns, groups).swapaxes(2, 3)
    return per_sample.sum(0).reshape(out_channels, x.shape[1] // groups, *kernel_size)


# ---- C++ im2col / col2im around NumPy's GEMMs -------------------------------------------------------
# The columns (C * kh * kw, N * Ho * Wo) make each GEMM one matmul (cpu/conv.cpp says why); the price is
# a transpose of the output and of the output gradient between NCHW and (C, N * H * W).

def _is_pointwise(kernel_size, padding):
    """A 1x1 kernel without padding reads x itself (every stride-th pixel): no im2col needed."""
    return tuple(kernel_size) == (1, 1) and not any(padding[0]) and not any(padding[1])


def _pixels_read(stride, output):
    """The slices of x (N, C, H, W) a pointwise convolution reads (x may reach past the last window)."""
    return (slice(None), slice(None)) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(output, stride))


def _channels_first(array):
    """(N, C, H, W) -> (C, N * H * W), one copy."""
    # as 3-D (N, C, H * W): NumPy copies a 4-D transpose in runs of W only, 4x slower measured here
    n, c, h, w = array.shape
    return np.ascontiguousarray(array.reshape(n, c, h * w).transpose(1, 0, 2)).reshape(c, n * h * w)


def _rows_by_group(matrix, groups):
    """(rows, columns) -> (g, rows/g, columns): each group's rows."""
    return matrix.reshape(groups, matrix.shape[0] // groups, matrix.shape[1])


# Below this many rows of columns (C * kh * kw), a GEMM per sample beats one wide GEMM and the
# transpose back to NCHW (measured on 2 cores: 2-3x faster for LeNet's and a CIFAR stem's convs,
# 1.7x slower at 288 rows, where the wide GEMM's better blocking wins).
_PER_SAMPLE_ROWS = 256


def _cpp_kernels():
    """The "cpp" implementation of each op, by op name (ImportError says why the extension is missing)."""
    cpu = load()

    def columns_of(x, kernel_size, stride, padding, dilation, output):
        """x (N, C, H, W) -> columns (C * kh * kw, N * Ho * Wo)."""
        if _is_pointwise(kernel_size, padding):
            return _channels_first(x[_pixels_read(stride, output)])
        columns = cpu.conv2d_im2col(x, tuple(kernel_size), tuple(stride), (padding[0][0], padding[1][0]),
                                    tuple(dilation), tuple(output))
        return columns.reshape(columns.shape[0], -1)

    def forward(x, weight, bias, stride, padding, dilation, groups):
        output = output_size(x.shape[2:], weight.shape[2:], stride, padding, dilation)
        columns = columns_of(x, weight.shape[2:], stride, padding, dilation, output)
        n, positions = x.shape[0], output[0] * output[1]
        if groups == 1 and columns.shape[0] < _PER_SAMPLE_ROWS:
            # one GEMM per sample straight into NCHW: each sample's columns are a strided matrix
            # BLAS reads in place, and the output needs no transpose
            rows = columns.shape[0]
            out = weight.reshape(weight.shape[0], rows) @ columns.reshape(rows, n, positions).transpose(1, 0, 2)
            if bias is not None:
                out += bias.reshape(-1, 1)
            return out.reshape(n, weight.shape[0], *output)
        out = _grouped_weight(weight, groups) @ _rows_by_group(columns, groups)
        out = out.reshape(weight.shape[0], x.shape[0], output[0] * output[1]).transpose(1, 0, 2)  # a view
        result = np.empty(out.shape, out.dtype)
        if bias is None:
            np.copyto(result, out)
        else:  # the bias rides along the transpose's copy
            np.add(out, bias.reshape(-1, 1), out=result)
        return result.reshape(x.shape[0], weight.shape[0], *output)

    def backward_input(grad, weight, input_size, stride, padding, dilation, groups):
        n, kernel_size, output = grad.shape[0], weight.shape[2:], grad.shape[2:]
        # BLAS reads a transposed operand in place only as a plain matrix: transpose the weight once
        weight_t = np.ascontiguousarray(_grouped_weight(weight, groups).swapaxes(1, 2))
        g = _channels_first(grad)
        columns = (weight_t @ _rows_by_group(g, groups)).reshape(weight_t.shape[0] * weight_t.shape[1], n,
                                                                 output[0] * output[1])
        if not _is_pointwise(kernel_size, padding):
            return cpu.conv2d_col2im(columns, weight.shape[1] * groups, tuple(input_size), tuple(kernel_size),
                                     tuple(stride), (padding[0][0], padding[1][0]), tuple(dilation), tuple(output))
        channels, positions = columns.shape[0], output[0] * output[1]
        read = columns.reshape(channels, n, positions).transpose(1, 0, 2).reshape(n, channels, *output)
        if tuple(output) == tuple(input_size):  # stride 1: x's gradient is the columns'
            return np.ascontiguousarray(read)
        out = np.zeros((n, columns.shape[0], *input_size), grad.dtype)
        out[_pixels_read(stride, output)] = read
        return out

    def backward_weight(x, grad, kernel_size, stride, padding, dilation, groups):
        columns = columns_of(x, kernel_size, stride, padding, dilation, grad.shape[2:])
        shape = (grad.shape[1], x.shape[1] // groups, *kernel_size)
        n, rows, positions = x.shape[0], columns.shape[0], grad.shape[2] * grad.shape[3]
        if groups == 1 and rows < _PER_SAMPLE_ROWS:
            # per sample, then summed: a GEMM whose inner dim is N * Ho * Wo with few rows and
            # columns is OpenBLAS's worst shape (8 ms against 1.2 ms for LeNet's first conv)
            per_sample = grad.reshape(n, grad.shape[1], positions) @ \
                columns.reshape(rows, n, positions).transpose(1, 2, 0)
            return per_sample.sum(0).reshape(shape)
        g = _channels_first(grad)
        out = _rows_by_group(g, groups) @ _rows_by_group(columns, groups).swapaxes(1, 2)
        return out.reshape(shape)

    return {"conv2d_forward": forward, "conv2d_backward_input": backward_input,
            "conv2d_backward_weight": backward_weight}


for _op, _reference in (("conv2d_forward", conv2d_forward), ("conv2d_backward_input", conv2d_backward_input),
                        ("conv2d_backward_weight", conv2d_backward_weight)):
    register(_op, "cpu", "cpp", lambda op=_op: _cpp_kernels()[op])
    register(_op, "cpu", "numpy", lambda reference=_reference: reference)
