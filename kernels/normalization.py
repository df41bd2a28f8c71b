"""Layer norm and training-mode batch norm kernels, forward and backward.

Layer norm normalizes each row of x (*, D) (M rows); batch norm each channel of x (N, C, *) over the
batch and the spatial dims, with the batch's mean and biased variance. Both then scale and shift,
per column (layer norm) or per channel (batch norm), by optional weight and bias. Forward returns
the mean and ``rstd = 1 / sqrt(var + eps)`` that backward takes, and from which
``update_running_stats`` moves the running statistics. Outputs take x's shape, so the
engine need not reshape them (a reshaped gradient is a view, which autograd copies before storing
it as a leaf's .grad).
"""
import math

import numpy as np

from .cpu_extension import kernel
from .registry import register


def update_running_stats(running_mean, running_var, mean, rstd, momentum, eps, correction):
    """Move batch norm's running statistics (C,) toward the batch's, in place: ``running = (1 - momentum)
    * running + momentum * batch``, with the batch mean ``mean`` (C,) and its variance recovered from
    ``rstd`` (C,) = 1 / sqrt(var + eps) in double (clamped at 0, where rounding leaves a constant
    channel's a hair below it; NaN stays NaN) and scaled by ``correction`` = n / (n - 1) (unbiased).
    One pass per buffer in the buffers' precision, as PyTorch's running-stat update."""
    variance = np.reciprocal(np.square(rstd.astype(np.float64))) - eps
    variance = np.where(variance < 0, 0.0, variance) * correction
    for running, batch in ((running_mean, mean), (running_var, variance)):
        running *= 1 - momentum
        running += running.dtype.type(momentum) * batch.astype(running.dtype)


def _view(vector, shape):
    return None if vector is None else vector.reshape(shape)


def _normalize(x, axes, weight, bias, eps):
    """(y, mean, rstd) with the statistics over ``axes`` (kept as size-1 dims); weight and bias
    already shaped to broadcast against x."""
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    rstd = 1 / np.sqrt(np.square(centered).mean(axis=axes, keepdims=True) + eps)
    y = centered * rstd
    if weight is not None:
        y *= weight
    if bias is not None:
        y += bias
    return y.astype(x.dtype, copy=False), mean.astype(x.dtype), rstd.astype(x.dtype)


def _normalize_backward(grad, x, mean, rstd, weight, has_bias, axes, parameter_axes):
    """(grad_x, grad_weight, grad_bias) of ``_normalize`` with the statistics over ``axes``; mean,
    rstd and weight broadcast against x; the parameters' gradients sum over ``parameter_axes`` (the
    axes each parameter element is shared across)."""
    xhat = (x - mean) * rstd
    scaled = grad if weight is None else grad * weight
    # the mean's and the variance's dependence on x give the two subtracted terms
    grad_x = rstd * (scaled - scaled.mean(axis=axes, keepdims=True)
                     - xhat * (scaled * xhat).mean(axis=axes, keepdims=True))
    grad_weight = None if weight is None else (grad * xhat).sum(axis=parameter_axes).astype(x.dtype)
    grad_bias = grad.sum(axis=parameter_axes).astype(x.dtype) if has_bias else None
    return grad_x.astype(x.dtype, copy=False), grad_weight, grad_bias


def _rows(x):
    """(*, D) as (M, D)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _blocks(x):
    """(N, C, *) as (N, C, L), L the product of the spatial dims."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


def layer_norm_forward(x, weight, bias, eps):
    """Normalize each row of x (*, D) (M rows), then ``* weight + bias`` ((D,) each, or None).
    Returns (y (*, D), mean (M,), rstd (M,))."""
    y, mean, rstd = _normalize(_rows(x), 1, weight, bias, eps)
    return y.reshape(x.shape), mean.reshape(-1), rstd.reshape(-1)


def layer_norm_backward(grad, x, mean, rstd, weight, has_bias):
    """Gradients of ``layer_norm_forward`` from grad (*, D), given its mean and rstd (M,):
    (grad_x (*, D), grad_weight (D,) or None when weight is None, grad_bias (D,) or None when not
    ``has_bias``)."""
    grad_x, grad_weight, grad_bias = _normalize_backward(_rows(grad), _rows(x), mean[:, None], rstd[:, None],
                                                         weight, has_bias, 1, 0)
    return grad_x.reshape(x.shape), grad_weight, grad_bias


def batch_norm_forward(x, weight, bias, eps):
    """Normalize each channel of x (N, C, *) with the batch's mean and biased variance, then
    ``* weight + bias`` ((C,) each, or None). Returns (y (N, C, *), mean (C,), rstd (C,))."""
    y, mean, rstd = _normalize(_blocks(x), (0, 2), _view(weight, (-1, 1)), _view(bias, (-1, 1)), eps)
    return y.reshape(x.shape), mean.reshape(-1), rstd.reshape(-1)


def batch_norm_backward(grad, x, mean, rstd, weight, has_bias):
    """Gradients of ``batch_norm_forward`` from grad (N, C, *), given its mean and rstd (C,):
    (grad_x (N, C, *), grad_weight (C,) or None when weight is None, grad_bias (C,) or None when
    not ``has_bias``)."""
    grad_x, grad_weight, grad_bias = _normalize_backward(_blocks(grad), _blocks(x), mean.reshape(-1, 1),
                                                         rstd.reshape(-1, 1), _view(weight, (-1, 1)), has_bias,
                                                         (0, 2), (0, 2))
    return grad_x.reshape(x.shape), grad_weight, grad_bias


for _op in ("layer_norm_forward", "layer_norm_backward", "batch_norm_forward", "batch_norm_backward"):
    register(_op, "cpu", "cpp", kernel(_op))
    register(_op, "cpu", "numpy", lambda function=globals()[_op]: function)
register("update_running_stats", "cpu", "numpy", lambda: update_running_stats)
