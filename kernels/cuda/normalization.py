"""CuPy glue for the layer norm and batch norm CUDA kernels (kernels/cuda/normalization.cu). The
signatures, shapes and dtypes are those of the NumPy references in kernels/normalization.py, on
cupy arrays: forward returns (y, mean, rstd), backward (grad_x, grad_weight or None, grad_bias or
None).

One block normalizes a layer norm row or a batch norm channel. Layer norm's weight and bias
gradients sum down the columns of M rows instead: partial sums over chunks of rows, then one sum of
the partials per column.
"""
import functools
import math

from ..registry import register
from . import runtime

_KERNELS = ("layer_norm_forward", "layer_norm_backward", "layer_norm_backward_parameters", "column_sums",
            "batch_norm_forward", "batch_norm_backward")
_INSTANTIATIONS = runtime.instantiations(*_KERNELS)

# A batch norm launch has one block per channel, few blocks: each as wide as a block can be.
_CHANNEL_THREADS = (1024,)
# Layer norm's parameter gradients: a block sums a chunk of rows over 32 columns, 8 rows at a time;
# at most _MAX_CHUNKS chunks (the partials' rows; a grid's y is below 65536).
_PARAMETER_BLOCK = (32, 8)
_ROWS_PER_CHUNK, _MAX_CHUNKS = 64, 1024


def _kernel(name, dtype):
    return runtime.kernel("normalization", _INSTANTIATIONS, name, dtype)


def _contiguous(array, dtype):
    """``array`` as a C-contiguous cupy array of ``dtype``; None stays None (no weight, no bias)."""
    return None if array is None else runtime.cupy().ascontiguousarray(array, dtype=dtype)


def _rows(x):
    """(M, D) of x (*, D)."""
    return math.prod(x.shape[:-1]), x.shape[-1]


def _channels(x):
    """(N, C, L) of x (N, C, *), L the product of the spatial dims."""
    return x.shape[0], x.shape[1], math.prod(x.shape[2:])


def layer_norm_forward(x, weight, bias, eps):
    """Normalize each row of x (*, D) (M rows), then ``* weight + bias`` ((D,) each, or None).
    Returns (y (*, D), mean (M,), rstd (M,))."""
    cp = runtime.cupy()
    kernel = _kernel("layer_norm_forward", x.dtype)
    x = cp.ascontiguousarray(x)
    rows, width = _rows(x)
    y, mean, rstd = cp.empty_like(x), cp.empty(rows, x.dtype), cp.empty(rows, x.dtype)
    if rows:
        kernel((rows,), (runtime.BLOCK,), (x, _contiguous(weight, x.dtype), _contiguous(bias, x.dtype), y, mean,
                                          rstd, width, x.dtype.type(eps)))
    return y, mean, rstd


def _column_gradients(grad, x, mean, rstd, want_weight, want_bias):
    """Layer norm's (grad_weight, grad_bias) (D,) each, or None where not wanted: the sums over the
    rows of grad * xhat and of grad. grad, x (M, D) and mean, rstd (M,) contiguous."""
    cp = runtime.cupy()
    rows, width = _rows(x)
    wanted = (want_weight, want_bias)
    if rows == 0 or width == 0 or not any(wanted):  # sums over no rows are 0
        return tuple(cp.zeros(width, x.dtype) if want else None for want in wanted)
    rows_per_chunk = -(-rows // min(-(-rows // _ROWS_PER_CHUNK), _MAX_CHUNKS))
    chunks = -(-rows // rows_per_chunk)
    partials = [cp.empty((chunks, width), x.dtype) if want else None for want in wanted]
    _kernel("layer_norm_backward_parameters", x.dtype)((-(-width // _PARAMETER_BLOCK[0]), chunks), _PARAMETER_BLOCK,
                                                       (grad, x, mean, rstd, *partials, rows, width, rows_per_chunk))
    column_sums = _kernel("column_sums", x.dtype)
    gradients = []
    for partial in partials:
        gradient = None
        if partial is not None:
            gradient = cp.empty(width, x.dtype)
            column_sums(runtime.blocks(width), (runtime.BLOCK,), (partial, gradient, chunks, width))
        gradients.append(gradient)
    return tuple(gradients)


def layer_norm_backward(grad, x, mean, rstd, weight, has_bias):
    """Gradients of ``layer_norm_forward`` from grad (*, D), given its mean and rstd (M,):
    (grad_x (*, D), grad_weight (D,) or None when weight is None, grad_bias (D,) or None when not
    ``has_bias``)."""
    cp = runtime.cupy()
    kernel = _kernel("layer_norm_backward", x.dtype)
    dtype = x.dtype
    grad, x, mean, rstd = (_contiguous(array, dtype) for array in (grad, x, mean, rstd))
    rows, width = _rows(x)
    grad_x = cp.empty_like(x)
    if rows:
        kernel((rows,), (runtime.BLOCK,), (grad, x, mean, rstd, _contiguous(weight, dtype), grad_x, width))
    grad_weight, grad_bias = _column_gradients(grad, x, mean, rstd, weight is not None, has_bias)
    return grad_x, grad_weight, grad_bias


def batch_norm_forward(x, weight, bias, eps):
    """Normalize each channel of x (N, C, *) with the batch's mean and biased variance, then
    ``* weight + bias`` ((C,) each, or None). Returns (y (N, C, *), mean (C,), rstd (C,))."""
    cp = runtime.cupy()
    kernel = _kernel("batch_norm_forward", x.dtype)
    x = cp.ascontiguousarray(x)
    batch, channels, length = _channels(x)
    y, mean, rstd = cp.empty_like(x), cp.empty(channels, x.dtype), cp.empty(channels, x.dtype)
    if channels:
        kernel((channels,), _CHANNEL_THREADS, (x, _contiguous(weight, x.dtype), _contiguous(bias, x.dtype), y, mean,
                                              rstd, batch, channels, length, x.dtype.type(eps)))
    return y, mean, rstd


def batch_norm_backward(grad, x, mean, rstd, weight, has_bias):
    """Gradients of ``batch_norm_forward`` from grad (N, C, *), given its mean and rstd (C,):
    (grad_x (N, C, *), grad_weight (C,) or None when weight is None, grad_bias (C,) or None when
    not ``has_bias``)."""
    cp = runtime.cupy()
    kernel = _kernel("batch_norm_backward", x.dtype)
    dtype = x.dtype
    grad, x, mean, rstd = (_contiguous(array, dtype) for array in (grad, x, mean, rstd))
    batch, channels, length = _channels(x)
    grad_x = cp.empty_like(x)
    grad_weight = None if weight is None else cp.empty(channels, x.dtype)
    grad_bias = cp.empty(channels, x.dtype) if has_bias else None
    if channels:
        kernel((channels,), _CHANNEL_THREADS, (grad, x, mean, rstd, _contiguous(weight, dtype), grad_x, grad_weight,
                                              grad_bias, batch, channels, length))
    return grad_x, grad_weight, grad_bias


# the reference's arithmetic (kernels/normalization.py), one thread per channel for both buffers
_UPDATE_RUNNING = ("T mean, T rstd, float64 keep, float64 momentum, float64 eps, float64 correction",
                   "T running_mean, T running_var", """
    double variance = 1.0 / ((double)rstd * (double)rstd) - eps;
    variance = (variance < 0.0 ? 0.0 : variance) * correction;  // a NaN stays NaN
    running_mean = running_mean * T(keep) + T(momentum) * mean;
    running_var = running_var * T(keep) + T(momentum) * T(variance);""")


@functools.cache
def _update_running_kernel():
    return runtime.cupy().ElementwiseKernel(*_UPDATE_RUNNING, "ember_update_running_stats")


def update_running_stats(running_mean, running_var, mean, rstd, momentum, eps, correction):
    """``kernels.normalization.update_running_stats`` in one launch: the running statistics
    (C,) moved toward the batch's mean and the variance ``rstd`` (C,) implies, in place."""
    dtype = running_mean.dtype
    _update_running_kernel()(mean.astype(dtype, copy=False), rstd.astype(dtype, copy=False), 1 - momentum, momentum,
                             eps, correction, running_mean, running_var)


for _op in ("layer_norm_forward", "layer_norm_backward", "batch_norm_forward", "batch_norm_backward",
            "update_running_stats"):
    register(_op, "cuda", "cupy", runtime.loader(globals()[_op]))
