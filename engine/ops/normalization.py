"""Normalization: batch_norm, instance_norm, layer_norm, group_norm, rms_norm, local_response_norm.

Batch, instance, layer and group norm all standardize the input over some axes,
``xhat = (x - mean) / sqrt(var + eps)`` with the biased variance, then scale and shift it (per
channel or per element). They differ only in the axes: batch norm (N, C, *) reduces over N and *,
instance norm over *, layer norm over the trailing ``normalized_shape``, group norm over each
group's channels and *. One Function, ``Standardize``, computes xhat for all of them with the
closed-form gradient; the scale and shift are ordinary Tensor ops. In eval mode batch norm uses
running statistics, and is then a per-channel affine map of the input.

Layer norm and training-mode batch norm, the two that run in every step of common models, have
fused kernels instead (``LayerNorm``, ``BatchNorm``): statistics, xhat and the affine map in one
kernel call forward, and the input's, weight's and bias's gradients in one call backward, where
the op by op path makes a dozen passes over the input each way.
"""
import math

import numpy as np

from ... import kernels
from ..device import array_module
from ..function import Function
from ..grad_mode import is_grad_enabled, no_grad
from ..tensor import Tensor
from .shape import pad

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm", "local_response_norm"]


class Standardize(Function):
    """``xhat = (x - mean) * rstd`` over ``axes``, from statistics its caller computed (``centered``
    = x - mean is consumed). With m = mean over the axes, the gradient is
    ``dx = rstd * (g - m(g) - xhat * m(g * xhat))`` (the mean's and the variance's dependence on x
    give the two subtracted terms)."""

    @staticmethod
    def forward(ctx, x, centered, mean, rstd, axes, eps):
        ctx.mean, ctx.rstd, ctx.axes, ctx.eps = mean, rstd, axes, eps
        # The input, not the output, is saved, so the output may be changed in place (relu_).
        ctx.save_for_backward(x)
        centered *= rstd
        return centered

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        if is_grad_enabled():
            # create_graph: the statistics must be functions of x for the second derivative
            mean, rstd = _statistics(x, ctx.axes, ctx.eps)
        else:
            mean, rstd = Tensor(ctx.mean), Tensor(ctx.rstd)
        return _standardize_grad(grad, (x - mean) * rstd, rstd, ctx.axes), None, None, None, None, None


def _statistics(x, axes, eps):
    """Mean and rstd = 1 / sqrt(biased var + eps) of the Tensor ``x`` over ``axes`` (kept), as
    Tensor ops, so that they are functions of x."""
    return x.mean(axes, keepdim=True), (x.var(axes, keepdim=True, correction=0) + eps).rsqrt()


def _standardize_grad(grad, xhat, rstd, axes):
    """The gradient of xhat = (x - mean) * rstd over ``axes`` with respect to x, with m = mean over
    the axes: ``rstd * (g - m(g) - xhat * m(g * xhat))`` (the mean's and the variance's dependence
    on x give the two subtracted terms)."""
    return rstd * (grad - grad.mean(axes, keepdim=True) - xhat * (grad * xhat).mean(axes, keepdim=True))


def _affine_standardize_grads(needs, grad, x, weight, axes, parameter_axes, parameter_shape, eps):
    """Gradients of ``xhat * weight + bias`` (xhat standardized over ``axes``) with respect to
    (x, weight, bias) in Tensor ops, for double backward; weight (or None) is already shaped to
    broadcast against x, and its and the bias's gradients sum over ``parameter_axes`` and take
    ``parameter_shape``."""
    mean, rstd = _statistics(x, axes, eps)
    xhat = (x - mean) * rstd
    grad_x = _standardize_grad(grad if weight is None else grad * weight, xhat, rstd, axes) if needs[0] else None
    grad_weight = _sum_over(grad * xhat, parameter_axes).reshape(parameter_shape) if needs[1] else None
    grad_bias = _sum_over(grad, parameter_axes).reshape(parameter_shape) if needs[2] else None
    return grad_x, grad_weight, grad_bias


def _sum_over(tensor, axes):
    """The sum over ``axes``, which may be none (layer norm of one row), where sum(()) sums all."""
    return tensor.sum(axes) if axes else tensor


def _flat(array):
    return None if array is None else array.reshape(-1)


def _data(tensor):
    return None if tensor is None else tensor._data


def _shaped(array, shape):
    """``array`` in ``shape``, reshaped only when it differs: autograd copies a view before storing
    it as a leaf's .grad, and the kernels' outputs own their memory."""
    return array if array.shape == shape else array.reshape(shape)


def _rows(shape, normalized_ndim):
    """(*, D): layer norm's view of ``shape``, its trailing ``normalized_ndim`` dims as one."""
    leading = len(shape) - normalized_ndim
    return tuple(shape[:leading]) + (math.prod(shape[leading:]),)


def _as_tensors(grads, shapes):
    return tuple(None if g is None else Tensor(_shaped(g, shape)) for g, shape in zip(grads, shapes))


def _fused_kernels_apply(input, *parameters):
    """The fused kernels take float32 or float64 arrays (cpu or cuda); parameters of another dtype
    (which would promote the output) and half precision take the op by op path."""
    dtype = input._data.dtype
    return (dtype in (np.float32, np.float64) and
            all(p is None or p._data.dtype == dtype for p in parameters))


class LayerNorm(Function):
    """``layer_norm`` with its affine map: x (*, *normalized_shape) viewed as rows (*, D), weight
    and bias (normalized_shape) or None -> same shape as x, by one kernel call each way."""

    @staticmethod
    def forward(ctx, x, weight, bias, normalized_ndim, eps):
        rows = _shaped(x, _rows(x.shape, normalized_ndim))
        y, ctx.mean, ctx.rstd = kernels.dispatch("layer_norm_forward", x)(rows, _flat(weight), _flat(bias), eps)
        ctx.normalized_ndim, ctx.eps, ctx.has_bias = normalized_ndim, eps, bias is not None
        ctx.save_for_backward(x, weight)  # the input, not the output: relu_ may change the output
        return _shaped(y, x.shape)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        leading = x.ndim - ctx.normalized_ndim
        parameter_shape = x.shape[leading:]
        if is_grad_enabled():
            return _affine_standardize_grads(ctx.needs_input_grad, grad, x, weight,
                                             tuple(range(leading, x.ndim)), tuple(range(leading)),
                                             parameter_shape, ctx.eps) + (None, None)
        rows = _rows(x.shape, ctx.normalized_ndim)
        grads = kernels.dispatch("layer_norm_backward", x._data)(
            _shaped(grad._data, rows), _shaped(x._data, rows), ctx.mean, ctx.rstd,
            None if weight is None else _flat(weight._data), ctx.has_bias)
        return _as_tensors(grads, (x.shape, parameter_shape, parameter_shape)) + (None, None)


class BatchNorm(Function):
    """Training-mode ``batch_norm`` with its affine map: x (N, C, *), weight and bias (C,) or None.
    The caller runs the forward kernel (it needs the batch statistics for the running ones) and
    passes its results: y (N, C, *), mean and rstd (C,). Backward is one kernel call."""

    @staticmethod
    def forward(ctx, x, weight, bias, y, mean, rstd, eps):
        ctx.mean, ctx.rstd, ctx.eps, ctx.has_bias = mean, rstd, eps, bias is not None
        ctx.save_for_backward(x, weight)  # the input, not the output: relu_ may change the output
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        channels = x.shape[1]
        if is_grad_enabled():
            axes = (0,) + tuple(range(2, x.ndim))
            weight = None if weight is None else weight.reshape(_channel_shape(x))
            return _affine_standardize_grads(ctx.needs_input_grad, grad, x, weight, axes, axes, (channels,),
                                             ctx.eps) + (None,) * 4
        grads = kernels.dispatch("batch_norm_backward", x._data)(
            grad._data, x._data, ctx.mean, ctx.rstd,
            None if weight is None else weight._data, ctx.has_bias)
        return _as_tensors(grads, (x.shape, (channels,), (channels,))) + (None,) * 4


def _standardize(input, axes, eps):
    """``(xhat, mean, var)``: the standardized input (a Tensor) and the batch statistics (arrays with
    the reduced axes kept, biased variance)."""
    x = input._data
    xp = array_module(x)
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = xp.square(centered).mean(axis=axes, keepdims=True)
    rstd = xp.reciprocal(xp.sqrt(var + eps))
    return Standardize.apply(input, centered, mean, rstd, axes, eps), mean, var


def _channel_shape(input):
    """Shape that broadcasts a per-channel (C,) vector against (N, C, *)."""
    return (-1,) + (1,) * (input.ndim - 2)


def _affine(x, weight, bias, shape=None):
    """``x * weight + bias``, each optional, reshaped to ``shape`` first when given."""
    if weight is not None:
        x = x * (weight if shape is None else weight.reshape(shape))
    if bias is not None:
        x = x + (bias if shape is None else bias.reshape(shape))
    return x


def _normalize_with_running(op, input, running_mean, running_var, weight, bias, eps):
    """``(x - running_mean) / sqrt(running_var + eps) * weight + bias`` per channel, as one affine
    map of x: scale = weight / sqrt(var + eps), shift = bias - mean * scale."""
    if running_mean is None or running_var is None:
        raise RuntimeError(f"{op}: running_mean must be defined in evaluation mode")
    shape = _channel_shape(input)
    scale = (running_var + eps).rsqrt()
    if weight is not None:
        scale = scale * weight
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias
    return input * scale.reshape(shape).to(input.dtype) + shift.reshape(shape).to(input.dtype)


def _update_running(buffer, batch_value, momentum):
    """``buffer = (1 - momentum) * buffer + momentum * batch_value`` in place, not recorded."""
    with no_grad():
        buffer.mul_(1 - momentum).add_(Tensor(batch_value.astype(buffer._data.dtype)), alpha=momentum)


def _check_channel_vectors(input, **vectors):
    channels = input.shape[1] if input.ndim > 1 else 0
    for name, vector in vectors.items():
        if vector is not None and vector.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {vector.numel()} "
                               f"(input of shape {tuple(input.shape)})")


def _check_floating(op, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype} "
                           f"(shape {tuple(input.shape)})")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalize each channel of ``input`` (N, C) or (N, C, *) over the batch and spatial dims, then
    ``* weight + bias`` (per channel, optional). ``training``: use the batch statistics and, when
    running_mean/running_var are given, update them in place (not recorded by autograd) as
    ``(1 - momentum) * running + momentum * batch``, with the unbiased variance. Otherwise
    normalize with the running statistics. Shapes: input (N, C, *), running_mean, running_var,
    weight, bias (C,) -> (N, C, *)."""
    _check_floating("batch_norm", input)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C) or (N, C, *), got "
                         f"{tuple(input.shape)}")
    _check_channel_vectors(input, running_mean=running_mean, running_var=running_var, weight=weight,
                           bias=bias)
    if not training:
        return _normalize_with_running("batch_norm", input, running_mean, running_var, weight, bias, eps)
    per_channel = input.numel() // input.shape[1]
    if per_channel == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{input.shape}")
    if _fused_kernels_apply(input, weight, bias):
        x = input._data
        y, mean, rstd = kernels.dispatch("batch_norm_forward", x)(x, _data(weight), _data(bias), eps)
        out = BatchNorm.apply(input, weight, bias, y, mean, rstd, eps)
        if running_mean is not None and running_var is not None:  # both buffers in one kernel launch
            kernels.dispatch("update_running_stats", running_mean._data)(
                running_mean._data, running_var._data, mean, rstd, momentum, eps, per_channel / (per_channel - 1))
            running_mean._version[0] += 1
            running_var._version[0] += 1
            return out
        # rstd = 1 / sqrt(var + eps), so var = 1 / rstd^2 - eps: in double, and clamped at 0 where
        # rounding would leave a constant channel's variance a hair below it
        var = np.maximum(np.reciprocal(np.square(rstd.astype(np.float64))) - eps, 0)
    else:
        axes = (0,) + tuple(range(2, input.ndim))
        xhat, mean, var = _standardize(input, axes, eps)
        out = _affine(xhat, weight, bias, _channel_shape(input))
    if running_mean is not None:
        _update_running(running_mean, mean.reshape(-1), momentum)
    if running_var is not None:
        _update_running(running_var, var.reshape(-1) * (per_channel / (per_channel - 1)), momentum)
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each channel of each sample of ``input`` (N, C, *) over its spatial dims, then
    ``* weight + bias`` (per channel, optional). ``use_input_stats``: those statistics, and the
    running ones (if given) move towards their mean over the batch as in ``batch_norm``; otherwise
    normalize with the running statistics. Shapes: input (N, C, *), running_mean, running_var,
    weight, bias (C,) -> (N, C, *)."""
    _check_floating("instance_norm", input)
    if input.ndim < 2:
        raise ValueError(f"instance_norm: expected input of shape (N, C, *), got {tuple(input.shape)}")
    _check_channel_vectors(input, running_mean=running_mean, running_var=running_var, weight=weight,
                           bias=bias)
    if not use_input_stats:
        return _normalize_with_running("instance_norm", input, running_mean, running_var, weight, bias, eps)
    spatial = math.prod(input.shape[2:])
    if spatial == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
    n, c = input.shape[:2]
    xhat, mean, var = _standardize(input, tuple(range(2, input.ndim)), eps)
    if running_mean is not None:
        _update_running(running_mean, mean.reshape(n, c).mean(axis=0), momentum)
    if running_var is not None:
        _update_running(running_var, var.reshape(n, c).mean(axis=0) * (spatial / (spatial - 1)), momentum)
    return _affine(xhat, weight, bias, _channel_shape(input))


def _trailing_axes(op, input, normalized_shape, weight, bias=None):
    """The axes of ``normalized_shape`` at the end of ``input``'s shape, after checking the shapes."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        expected = ", ".join(["*"] + [str(s) for s in shape])
        raise RuntimeError(f"{op}: Given normalized_shape={list(shape)}, expected input with shape "
                           f"[{expected}], but got input of size{list(input.shape)}")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and tuple(param.shape) != shape:
            raise RuntimeError(f"{op}: Expected {name} to be of same shape as normalized_shape, but got "
                               f"{name} of shape {list(param.shape)} and normalized_shape = {list(shape)}")
    return tuple(range(input.ndim - k, input.ndim))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims ``normalized_shape`` (mean 0, biased variance 1), then
    ``* weight + bias`` (elementwise, optional). Shapes: input (*, *normalized_shape), weight, bias
    normalized_shape -> same as input."""
    _check_floating("layer_norm", input)
    axes = _trailing_axes("layer_norm", input, normalized_shape, weight, bias)
    if _fused_kernels_apply(input, weight, bias):
        return LayerNorm.apply(input, weight, bias, len(axes), eps)
    return _affine(_standardize(input, axes, eps)[0], weight, bias)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the C channels into ``num_groups`` groups and normalize each group of each sample
    (its channels and spatial dims together), then ``* weight + bias`` (per channel, optional).
    Shapes: input (N, C, *), weight, bias (C,) -> (N, C, *)."""
    _check_floating("group_norm", input)
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: Expected at least 2 dimensions for input tensor but received "
                           f"{input.ndim}")
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and (param.ndim != 1 or param.numel() != c):
            raise RuntimeError(f"group_norm: Expected {name} to be a vector of size equal to the number "
                               f"of channels in input, but got {name} of shape {list(param.shape)} and "
                               f"input of shape {list(input.shape)}")
    grouped = input.reshape(n, num_groups, c // num_groups * math.prod(input.shape[2:]))
    xhat = _standardize(grouped, (2,), eps)[0].reshape(input.shape)
    return _affine(xhat, weight, bias, _channel_shape(input))


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``input / sqrt(mean(input^2) + eps) * weight`` over the trailing dims ``normalized_shape``;
    ``eps`` defaults to the machine epsilon of the input's dtype. Shapes: input
    (*, *normalized_shape), weight normalized_shape -> same as input."""
    _check_floating("rms_norm", input)
    axes = _trailing_axes("rms_norm", input, normalized_shape, weight)
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    out = input * (input.square().mean(axes, keepdim=True) + eps).rsqrt()
    return _affine(out, weight, None)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Divide each element by ``(k + alpha / size * sum of squares over a window of size channels
    centred on it) ** beta``; the window is zero-padded at the channel edges, as PyTorch.
    Shapes: input (N, C, *) -> (N, C, *)."""
    _check_floating("local_response_norm", input)
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: Expected 3D or higher dimensionality input (got "
                         f"{input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    # zero-pad the channel dim by size // 2 before and (size - 1) // 2 after: window j covers
    # padded channels j .. j + size - 1
    padded = pad(input.square(), (0, 0) * (input.ndim - 2) + (size // 2, (size - 1) // 2))
    window_sum = padded.narrow(1, 0, channels)
    for offset in range(1, size):
        window_sum = window_sum + padded.narrow(1, offset, channels)
    return input / (window_sum * (alpha / size) + k) ** beta
