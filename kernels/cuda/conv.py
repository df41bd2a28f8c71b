"""The CUDA convolution through CuPy: im2col and col2im kernels (conv.cu) around cuBLAS GEMMs
(``cupy.matmul``), for the conv2d_* ops with the signatures of the NumPy references in kernels/conv.py.
CuPy 14 has no cuDNN: this is ember's GPU convolution. The GEMMs go through ``gemm.matmul``, which
uses ember's own GEMM while a CUDA graph is captured.

Layouts of the columns. The forward and the gradient in x keep each sample's columns together,
(N, C * kh * kw, Ho * Wo): their GEMMs are then one cuBLAS call batched over samples and groups that
reads and writes NCHW arrays in place, with no transpose. The gradient in the weight sums over samples:
it lays the samples side by side, (C * kh * kw, N * Ho * Wo), so that the sum is the GEMM's inner
dimension (one GEMM per group, no per-sample products to add up), for one transposed copy of the
output gradient. cupy.matmul copies any operand that is not C-contiguous, so no operand is a
transposed view.

Columns take kh * kw times x's memory: the batch runs in chunks holding at most _CHUNK_ELEMENTS elements
of each array (at least one sample), which bounds that memory and keeps the kernels' indices in int32.
"""
import math
from typing import NamedTuple


from ..conv import output_size
from ..registry import register
from . import gemm, runtime

_INSTANTIATIONS = runtime.instantiations("conv2d_im2col", "conv2d_col2im")
_CHUNK_ELEMENTS = 2**27  # 512 MiB of float32: typical training batches fit in one chunk (not tuned on a GPU)


def _launch(kernel, count, *args):
    """conv.cu's ``kernel`` on ``count`` threads (see ``runtime.launch``)."""
    runtime.launch("conv", _INSTANTIATIONS, kernel, count, *args)


class _Window(NamedTuple):
    """The geometry arguments of conv.cu's kernels, in their order."""
    height: int
    width: int
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    padding_top: int
    padding_left: int
    dilation_h: int
    dilation_w: int
    out_h: int
    out_w: int

    @property
    def taps(self):
        return self.kernel_h * self.kernel_w

    @property
    def positions(self):
        return self.out_h * self.out_w

    def reads_input_as_is(self):
        """A 1x1 kernel at stride 1 from the top left corner, whose output is the input's size: the
        columns of x (N, C, H, W) are x itself, (N, C, H * W)."""
        return (self.taps == 1 and (self.stride_h, self.stride_w) == (1, 1) and self.padding_top == 0
                and self.padding_left == 0 and (self.out_h, self.out_w) == (self.height, self.width))


def _window(input_size, kernel_size, stride, padding, dilation, output=None):
    """padding: ((top, bottom), (left, right)); the kernels need only top and left, the output size
    (by default the convolution's) fixing the rest."""
    (top, _), (left, _) = padding
    if min(*kernel_size, *stride, *dilation) < 1 or min(top, left) < 0:
        raise ValueError(f"conv2d: kernel size, stride and dilation must be positive and padding non-negative, got "
                         f"kernel_size={tuple(kernel_size)}, stride={stride}, padding={padding}, dilation={dilation}")
    if output is None:
        output = output_size(input_size, kernel_size, stride, padding, dilation)
    return _Window(*input_size, *kernel_size, *stride, top, left, *dilation, *output)


def _chunks(batch, *per_sample):
    """Slices of the batch holding at most _CHUNK_ELEMENTS of each per-sample size (at least one sample)."""
    step = max(1, _CHUNK_ELEMENTS // max(1, *per_sample))
    return [slice(start, min(start + step, batch)) for start in range(0, batch, step)]


def _columns(x, window, samples_outer=True):
    """im2col: x (n, C, H, W) -> columns (n, C * kh * kw, Ho * Wo), or with samples_outer=False
    (C * kh * kw, n, Ho * Wo)."""
    cp = runtime.cupy()
    n, rows, positions = x.shape[0], x.shape[1] * window.taps, window.positions
    if samples_outer:
        columns, strides = cp.empty((n, rows, positions), x.dtype), (positions, rows * positions)
    else:
        columns, strides = cp.empty((rows, n, positions), x.dtype), (n * positions, positions)
    _launch("conv2d_im2col", columns.size, x, columns, n, x.shape[1], *window, *strides)
    return columns


def _col2im(columns, out, window):
    """col2im: columns (n, C * kh * kw, Ho * Wo) summed back where im2col read them, into out (n, C, H, W)."""
    n, channels = out.shape[:2]
    _launch("conv2d_col2im", out.size, columns, out, n, channels, *window, window.positions,
            channels * window.taps * window.positions)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """x (N, C, H, W), weight (O, C/g, kh, kw), bias (O,) or None -> (N, O, Ho, Wo)."""
    cp = runtime.cupy()
    x, weight = cp.ascontiguousarray(x), cp.ascontiguousarray(weight)
    (n, channels), out_channels = x.shape[:2], weight.shape[0]
    window = _window(x.shape[2:], weight.shape[2:], stride, padding, dilation)
    positions = window.positions
    out = cp.empty((n, out_channels, window.out_h, window.out_w), x.dtype)
    grouped = weight.reshape(groups, out_channels // groups, -1)  # (g, O/g, C/g * kh * kw)
    for part in _chunks(n, math.prod(x.shape[1:]), channels * window.taps * positions, out_channels * positions):
        m = part.stop - part.start
        columns = x[part].reshape(m, channels, positions) if window.reads_input_as_is() else _columns(x[part], window)
        # (g, O/g, K) @ (m, g, K, L) -> (m, g, O/g, L): out's chunk itself
        gemm.matmul(grouped, columns.reshape(m, groups, -1, positions), out=out[part].reshape(m, groups, -1, positions))
    if bias is not None:
        out += bias.reshape(-1, 1, 1)
    return out


def conv2d_backward_input(grad, weight, input_size, stride, padding, dilation, groups):
    """The gradient in x: grad (N, O, Ho, Wo), weight (O, C/g, kh, kw), input_size (H, W) -> (N, C, H, W).
    Rows and columns of x past the last window's reach get zeros."""
    cp = runtime.cupy()
    grad, weight = cp.ascontiguousarray(grad), cp.ascontiguousarray(weight)
    n, out_channels = grad.shape[:2]
    channels = weight.shape[1] * groups
    window = _window(input_size, weight.shape[2:], stride, padding, dilation, grad.shape[2:])
    positions = window.positions
    # (g, C/g * kh * kw, O/g): transposed once here rather than copied by every matmul
    weight_t = cp.ascontiguousarray(weight.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1))
    out = cp.empty((n, channels, *input_size), grad.dtype)
    for part in _chunks(n, out_channels * positions, channels * window.taps * positions, math.prod(out.shape[1:])):
        m = part.stop - part.start
        g = grad[part].reshape(m, groups, out_channels // groups, positions)
        if window.reads_input_as_is():  # the columns are x's gradient
            gemm.matmul(weight_t, g, out=out[part].reshape(m, groups, -1, positions))
        else:  # columns (m, g, C/g * kh * kw, L), i.e. (m, C * kh * kw, L)
            _col2im(gemm.matmul(weight_t, g), out[part], window)
    return out


def conv2d_backward_weight(x, grad, kernel_size, stride, padding, dilation, groups):
    """The gradient in the weight: x (N, C, H, W), grad (N, O, Ho, Wo), kernel_size (kh, kw) ->
    (O, C/g, kh, kw). x may reach past the last window (those pixels are not read)."""
    cp = runtime.cupy()
    x, grad = cp.ascontiguousarray(x), cp.ascontiguousarray(grad)
    (n, channels), out_channels = x.shape[:2], grad.shape[1]
    window = _window(x.shape[2:], kernel_size, stride, padding, dilation, grad.shape[2:])
    rows, positions = channels * window.taps, window.positions
    per_group, out_per_group = rows // groups, out_channels // groups
    total = None  # the gradient transposed (g, C/g * kh * kw, O/g), summed over chunks
    for part in _chunks(n, math.prod(x.shape[1:]), rows * positions, out_channels * positions):
        m = part.stop - part.start
        columns = _columns(x[part], window, samples_outer=False).reshape(groups, per_group, m * positions)
        # grad (m, O, L) -> (g, m * L, O/g): the inner dim in the columns' order, (sample, position)
        grad_rows = cp.ascontiguousarray(grad[part].reshape(m, groups, out_per_group, positions).transpose(1, 0, 3, 2))
        product = gemm.matmul(columns, grad_rows.reshape(groups, m * positions, out_per_group))
        if total is None:  # the first chunk's product is the sum so far: no zeros to add it to
            total = product
        else:
            total += product
    if total is None:  # an empty batch
        total = cp.zeros((groups, per_group, out_per_group), x.dtype)
    return cp.ascontiguousarray(total.transpose(0, 2, 1)).reshape(out_channels, channels // groups, *kernel_size)


for _op, _function in (("conv2d_forward", conv2d_forward), ("conv2d_backward_input", conv2d_backward_input),
                       ("conv2d_backward_weight", conv2d_backward_weight)):
    register(_op, "cuda", "cupy", runtime.loader(_function))
