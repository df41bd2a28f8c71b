"""Convolutions: conv1d/2d/3d and conv_transpose1d/2d/3d, through im2col and one batched matmul.

Float 1-D and 2-D convolutions of NumPy arrays run on ``ember.kernels``' conv2d_* kernels (a 1-D one
as 2-D of height 1; C++ im2col/col2im around NumPy's GEMMs); conv3d, integer dtypes and other
devices take the NumPy path below.

A sliding-window op (this file's convolutions, pooling.py's pools) is fixed by a ``WindowGeometry``:
per spatial dim the input size, kernel size, stride, dilation, padding before and after, and output
size. Output position o reads the padded input at ``o * stride + k * dilation`` for k < kernel.

Forward views the padded input as windows (``sliding_window_view``, no copy), copies them once into
columns (N, groups, C/groups * prod(kernel), L) with L = prod(output), and multiplies by the weight
(groups, O/groups, C/groups * prod(kernel)) in one batched matmul, whose result is already NCHW.

Gradients. With the trilinear form T(x, w, g) = <conv(x, w), g>, the three Functions here are its
three gradients::

    Convolution(x, w)           = dT/dg   windows of x times w
    ConvolutionTranspose(g, w)  = dT/dx   columns w^T g, scatter-added back to the input (col2im)
    ConvolutionWeight(x, g)     = dT/dw   g times the columns of x, summed over the batch

The gradients of each are made of the other two (e.g. d/dx <conv(x, w), G> = convT(G, w)), so
double backward works to any order. ``conv_transposeNd`` is ConvolutionTranspose for the geometry of
the convolution whose input has the transposed convolution's output size.
"""
import itertools
import math
import numbers

import numpy as np

from ... import kernels
from ..device import array_module
from ..function import Function
from ..tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]


class WindowGeometry:
    """Where a sliding-window op reads its input, per spatial dim (tuples, one entry per dim)."""

    __slots__ = ("size", "kernel", "stride", "dilation", "before", "after", "output")

    def __init__(self, size, kernel, stride, dilation, before, after, output):
        self.size, self.kernel, self.stride, self.dilation = size, kernel, stride, dilation
        self.before, self.output = before, output
        # The last window must fit in the padded input: ceil_mode (pooling) can need more padding
        # after the input than was asked for; the extra is never read by a window.
        self.after = tuple(max(a, (o - 1) * s + d * (k - 1) + 1 - n - b) for n, k, s, d, b, a, o in
                           zip(size, kernel, stride, dilation, before, after, output))

    @property
    def span(self):
        """The dilated kernel size: how far one window reaches."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    def pad(self, x, value=0):
        """x (*, *size) with ``value`` around its spatial dims: (*, *padded size)."""
        if not any(self.before) and not any(self.after):
            return x
        widths = ((0, 0),) * (x.ndim - len(self.size)) + tuple(zip(self.before, self.after))
        return array_module(x).pad(x, widths, constant_values=value)

    def windows(self, padded):
        """The view (*, *output, *kernel) of a padded array: window o's element k (no copy)."""
        n = len(self.size)
        view = array_module(padded).lib.stride_tricks.sliding_window_view(
            padded, self.span, axis=tuple(range(padded.ndim - n, padded.ndim)))
        return view[(Ellipsis,) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(self.output, self.stride))
                    + tuple(slice(None, None, d) for d in self.dilation)]

    def offsets(self):
        """For every kernel position k (row-major): k and the slices of the padded input that the
        windows read at k, one per output position."""
        for k in itertools.product(*(range(k) for k in self.kernel)):
            yield k, tuple(slice(i * d, i * d + (o - 1) * s + 1, s)
                           for i, d, o, s in zip(k, self.dilation, self.output, self.stride))

    def crop(self, padded):
        """The input's region of a padded array (a contiguous copy when there was padding)."""
        if not any(self.before) and not any(self.after):
            return padded
        return array_module(padded).ascontiguousarray(padded[(Ellipsis,) + tuple(
            slice(b, b + n) for b, n in zip(self.before, self.size))])

    def scatter(self, columns):
        """col2im: columns (*, *kernel, *output) summed back into the input positions each entry
        was read from: (*, *size). A loop over kernel positions, each a strided add."""
        n = len(self.size)
        lead = columns.shape[:columns.ndim - 2 * n]
        padded = tuple(s + b + a for s, b, a in zip(self.size, self.before, self.after))
        out = array_module(columns).zeros(lead + padded, columns.dtype)
        for k, reads in self.offsets():
            out[(Ellipsis,) + reads] += columns[(Ellipsis,) + k + (slice(None),) * n]
        return self.crop(out)


# ---- the conv2d kernels' view of a geometry -------------------------------------------------------

class _Planar:
    """The arguments of the conv2d kernels for a 1-D or 2-D geometry: a 1-D convolution is a 2-D one
    of height 1, its arrays lifted to (N, C, 1, L)."""

    __slots__ = ("flat", "size", "kernel", "stride", "padding", "dilation", "reach")

    def __init__(self, geometry):
        self.flat = len(geometry.size) == 1

        def planar(values, height=1):
            return ((height,) if self.flat else ()) + tuple(values)
        self.size, self.kernel = planar(geometry.size), planar(geometry.kernel)
        self.stride, self.dilation = planar(geometry.stride), planar(geometry.dilation)
        before = planar(geometry.before, height=0)
        # How far the windows reach into the input. It can stop short of the padding after the input,
        # or (conv_transpose's output_padding) of the input's end: the kernels then get the padding
        # that yields exactly the geometry's output, and forward the input up to that reach.
        self.reach = tuple((o - 1) * s + span - b for o, s, span, b in
                           zip(planar(geometry.output), self.stride, planar(geometry.span), before))
        self.padding = tuple((b, max(r - n, 0)) for b, r, n in zip(before, self.reach, self.size))

    def lift(self, array):
        """An array (N, C, *spatial) of the geometry as the kernels take it: (N, C, 1, L) if 1-D (a view)."""
        return array[:, :, None] if self.flat else array

    def drop(self, array):
        """The inverse of ``lift``, for what the kernels return."""
        return array[:, :, 0] if self.flat else array

    def read(self, x):
        """x lifted to 2-D, without what lies past the windows' reach."""
        x = self.lift(x)
        if all(r >= n for r, n in zip(self.reach, self.size)):
            return x
        return x[(Ellipsis,) + tuple(slice(0, r) for r in self.reach)]

    @property
    def options(self):
        """(stride, padding, dilation): the geometry arguments every conv2d kernel takes."""
        return self.stride, self.padding, self.dilation


def _planar(array, geometry):
    """The conv2d kernels' arguments for a convolution of ``array``, or None where the kernels do not
    serve it (they take float32/float64 arrays, on either device, of 1-D and 2-D convolutions)."""
    if array.dtype not in _KERNEL_DTYPES or len(geometry.size) > 2:
        return None
    return _Planar(geometry)


_KERNEL_DTYPES = (np.float32, np.float64)


# ---- the three Functions -------------------------------------------------------------------------

def _columns(x, geometry, groups):
    """im2col: x (N, C, *size) -> (N, groups, C/groups * prod(kernel), prod(output)), one copy."""
    n = len(geometry.size)
    windows = geometry.windows(geometry.pad(x))  # (N, C, *output, *kernel)
    kernel_first = (0, 1) + tuple(range(2 + n, 2 + 2 * n)) + tuple(range(2, 2 + n))
    rows = x.shape[1] // groups * math.prod(geometry.kernel)
    return windows.transpose(kernel_first).reshape(x.shape[0], groups, rows, math.prod(geometry.output))


def _grouped(weight, groups):
    """weight (O, C/groups, *kernel) as (groups, O/groups, C/groups * prod(kernel))."""
    return weight.reshape(groups, weight.shape[0] // groups, math.prod(weight.shape[1:]))


def _add_bias(out, bias):
    if bias is not None:
        out += bias.reshape((-1,) + (1,) * (out.ndim - 2))
    return out


def _bias_grad(grad):
    return grad.sum((0,) + tuple(range(2, grad.ndim)))


class Convolution(Function):
    """conv(x, w) + b: x (N, C, *size), w (O, C/groups, *kernel) -> (N, O, *output)."""

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, groups):
        ctx.geometry, ctx.groups = geometry, groups
        ctx.save_for_backward(x, weight)
        planar = _planar(x, geometry)
        if planar is not None:
            return planar.drop(kernels.dispatch("conv2d_forward", x)(
                planar.read(x), planar.lift(weight), bias, *planar.options, groups))
        # the weight gradient needs x's columns again: keep them (prod(kernel) times x's size, freed
        # by backward) rather than copy them twice
        ctx.columns = _columns(x, geometry, groups)
        out = kernels.matmul(_grouped(weight, groups), ctx.columns)  # (N, groups, O/groups, L)
        return _add_bias(out.reshape((x.shape[0], weight.shape[0]) + geometry.output), bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        geometry, groups = ctx.geometry, ctx.groups
        needs = ctx.needs_input_grad
        columns = ctx.__dict__.pop("columns", None)  # once: a second backward (retain_graph) recomputes
        return (ConvolutionTranspose.apply(grad, weight, None, geometry, groups) if needs[0] else None,
                ConvolutionWeight.apply(x, grad, geometry, groups, columns) if needs[1] else None,
                _bias_grad(grad) if needs[2] else None, None, None)


class ConvolutionTranspose(Function):
    """The adjoint of conv in x, + b: y (N, O, *output), w (O, C/groups, *kernel) -> (N, C, *size)."""

    @staticmethod
    def forward(ctx, y, weight, bias, geometry, groups):
        ctx.geometry, ctx.groups = geometry, groups
        ctx.save_for_backward(y, weight)
        planar = _planar(y, geometry)
        if planar is not None:
            return _add_bias(planar.drop(kernels.dispatch("conv2d_backward_input", y)(
                planar.lift(y), planar.lift(weight), planar.size, *planar.options, groups)), bias)
        n, out_channels = y.shape[0], weight.shape[1] * groups
        # columns (N, groups, C/groups * prod(kernel), L) = w^T y, per group
        columns = kernels.matmul(_grouped(weight, groups).swapaxes(1, 2),
                                 y.reshape(n, groups, y.shape[1] // groups, math.prod(geometry.output)))
        columns = columns.reshape((n, out_channels) + geometry.kernel + geometry.output)
        return _add_bias(geometry.scatter(columns), bias)

    @staticmethod
    def backward(ctx, grad):
        y, weight = ctx.saved_tensors
        geometry, groups = ctx.geometry, ctx.groups
        needs = ctx.needs_input_grad
        # <convT(y, w), G> = <y, conv(G, w)> = <w, weight_grad(G, y)>
        return (Convolution.apply(grad, weight, None, geometry, groups) if needs[0] else None,
                ConvolutionWeight.apply(grad, y, geometry, groups, None) if needs[1] else None,
                _bias_grad(grad) if needs[2] else None, None, None)


class ConvolutionWeight(Function):
    """The gradient of conv in w: x (N, C, *size), g (N, O, *output) -> (O, C/groups, *kernel).
    ``columns``: x's columns when the caller has them, else None."""

    @staticmethod
    def forward(ctx, x, grad, geometry, groups, columns):
        ctx.geometry, ctx.groups = geometry, groups
        ctx.save_for_backward(x, grad)
        planar = _planar(x, geometry)
        if planar is not None:
            return planar.drop(kernels.dispatch("conv2d_backward_weight", x)(
                planar.lift(x), planar.lift(grad), planar.kernel, *planar.options, groups))
        n, out_channels = x.shape[0], grad.shape[1]
        if columns is None:
            columns = _columns(x, geometry, groups)
        per_sample = kernels.matmul(grad.reshape(n, groups, out_channels // groups, math.prod(geometry.output)),
                                    columns.swapaxes(2, 3))  # (N, groups, O/groups, rows)
        return per_sample.sum(0).reshape((out_channels, x.shape[1] // groups) + geometry.kernel)

    @staticmethod
    def backward(ctx, grad):
        x, out_grad = ctx.saved_tensors
        geometry, groups = ctx.geometry, ctx.groups
        needs = ctx.needs_input_grad
        # <weight_grad(x, g), G> = <conv(x, G), g> = <x, convT(g, G)>
        return (ConvolutionTranspose.apply(out_grad, grad, None, geometry, groups) if needs[0] else None,
                Convolution.apply(x, grad, None, geometry, groups) if needs[1] else None, None, None, None)


# ---- arguments -----------------------------------------------------------------------------------

def expand_param(op, name, value, n):
    """An int or a sequence of n ints -> a tuple of n ints, as PyTorch accepts them."""
    values = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != n or not all(isinstance(v, numbers.Integral) for v in values):
        raise RuntimeError(f"{op}: expected {name} to be a single integer value or a list of {n} values "
                           f"to match the convolution dimensions, but got {name}={list(values)}")
    return tuple(int(v) for v in values)


def _check_tensor(op, name, value):
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(value).__name__}")


def _check_operands(op, input, weight, bias, n, groups, transposed):
    """PyTorch's checks of a convolution's tensors. The weight is (C_in, C_out / groups, *kernel)
    for a transposed convolution, (C_out, C_in / groups, *kernel) otherwise."""
    _check_tensor(op, "input", input)
    _check_tensor(op, "weight", weight)
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {op}, but got "
                           f"input of size: {list(input.shape)}")
    if weight.ndim != n + 2:
        raise RuntimeError(f"{op}: expected weight to be {n + 2}-dimensional, but got weight of size "
                           f"{list(weight.shape)}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at "
                           f"dimension 0, but got weight of size {list(weight.shape)} instead")
    channels = input.shape[-n - 1]
    expected = weight.shape[0] if transposed else weight.shape[1] * groups
    if channels != expected:
        given = "transposed=1" if transposed else f"groups={groups}"
        raise RuntimeError(f"Given {given}, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {expected} channels, but got {channels} channels "
                           f"instead")
    if bias is not None:
        _check_tensor(op, "bias", bias)
        out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
        if bias.ndim != 1 or bias.shape[0] != out_channels:
            raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional "
                               f"with {out_channels} elements, but got bias of size {list(bias.shape)} instead")
    for name, other in (("weight", weight), ("bias", bias)):
        if other is not None and other.dtype != input.dtype:
            raise RuntimeError(f"{op}: Input type ({input.dtype}) and {name} type ({other.dtype}) should be "
                               f"the same")


def _check_positive(stride, dilation):
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")


def _batched(function, input, n):
    """Run ``function`` on a batched input; an unbatched one (C, *size) gets a batch of 1."""
    if input.ndim == n + 2:
        return function(input)
    return function(input.unsqueeze(0)).squeeze(0)


def _padding(op, padding, kernel, stride, dilation, n):
    """(before, after) per dim from an int, ints, 'valid' or 'same' (the total d * (k - 1) split
    with the odd one after, as PyTorch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n, (0,) * n
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        total = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    padding = expand_param(op, "padding", padding, n)
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    return padding, padding


def _shape_text(sizes):
    return " x ".join(str(s) for s in sizes)


def _convolution(op, n, input, weight, bias, stride, padding, dilation, groups):
    _check_operands(op, input, weight, bias, n, groups, transposed=False)
    kernel = tuple(weight.shape[2:])
    stride = expand_param(op, "stride", stride, n)
    dilation = expand_param(op, "dilation", dilation, n)
    _check_positive(stride, dilation)
    before, after = _padding(op, padding, kernel, stride, dilation, n)
    size = tuple(input.shape[-n:])
    padded = tuple(s + b + a for s, b, a in zip(size, before, after))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p < k for p, k in zip(padded, span)):
        raise RuntimeError(f"Calculated padded input size per channel: ({_shape_text(padded)}). Kernel size: "
                           f"({_shape_text(span)}). Kernel size can't be greater than actual input size")
    output = tuple((p - k) // s + 1 for p, k, s in zip(padded, span, stride))
    geometry = WindowGeometry(size, kernel, stride, dilation, before, after, output)
    return _batched(lambda x: Convolution.apply(x, weight, bias, geometry, groups), input, n)


def _convolution_transpose(op, n, input, weight, bias, stride, padding, output_padding, groups, dilation):
    if isinstance(padding, str):
        raise TypeError(f"{op}(): argument 'padding' must be tuple of ints, not str")
    _check_operands(op, input, weight, bias, n, groups, transposed=True)
    kernel = tuple(weight.shape[2:])
    stride = expand_param(op, "stride", stride, n)
    dilation = expand_param(op, "dilation", dilation, n)
    padding = expand_param(op, "padding", padding, n)
    output_padding = expand_param(op, "output_padding", output_padding, n)
    _check_positive(stride, dilation)
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(p >= s and p >= d for p, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got "
                           f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    inner = tuple(input.shape[-n:])
    # the convolution whose input gradient this is: its input has the transpose's output size
    size = tuple((i - 1) * s - 2 * p + d * (k - 1) + q + 1 for i, s, p, d, k, q in
                 zip(inner, stride, padding, dilation, kernel, output_padding))
    if any(s < 0 for s in size):
        raise RuntimeError(f"{op}: the output size {size} computed from input size {inner}, stride {stride}, "
                           f"padding {padding}, dilation {dilation}, kernel size {kernel} and output_padding "
                           f"{output_padding} is negative")
    geometry = WindowGeometry(size, kernel, stride, dilation, padding, padding, inner)
    return _batched(lambda y: ConvolutionTranspose.apply(y, weight, bias, geometry, groups), input, n)


def _conv_doc(n):
    dims = ("L",) if n == 1 else ("H", "W") if n == 2 else ("D", "H", "W")
    return (f"{n}-D convolution (cross-correlation, as PyTorch). Shapes: input (N, C_in, {', '.join(dims)}) "
            f"or unbatched (C_in, {', '.join(dims)}), weight (C_out, C_in / groups, "
            f"{', '.join('k' + d for d in dims)}), bias (C_out,) -> (N, C_out, "
            f"{', '.join(d + '_out' for d in dims)}) with {dims[-1]}_out = floor(({dims[-1]} + padding_before "
            f"+ padding_after - dilation * (k{dims[-1]} - 1) - 1) / stride) + 1. ``padding``: an int, one "
            f"int per dim, 'valid' (none) or 'same' (output size = input size; stride 1 only).")


def _conv_transpose_doc(n):
    dims = ("L",) if n == 1 else ("H", "W") if n == 2 else ("D", "H", "W")
    return (f"{n}-D transposed convolution: the gradient of conv{n}d with respect to its input. Shapes: "
            f"input (N, C_in, {', '.join(dims)}) or unbatched, weight (C_in, C_out / groups, "
            f"{', '.join('k' + d for d in dims)}), bias (C_out,) -> (N, C_out, "
            f"{', '.join(d + '_out' for d in dims)}) with {dims[-1]}_out = ({dims[-1]} - 1) * stride - 2 * "
            f"padding + dilation * (k{dims[-1]} - 1) + output_padding + 1.")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convolution("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convolution("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convolution("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _convolution_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                                  output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _convolution_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                                  output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _convolution_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                                  output_padding, groups, dilation)


for _n, _conv, _transpose in ((1, conv1d, conv_transpose1d), (2, conv2d, conv_transpose2d),
                              (3, conv3d, conv_transpose3d)):
    _conv.__doc__, _transpose.__doc__ = _conv_doc(_n), _conv_transpose_doc(_n)
