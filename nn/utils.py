"""``ember.nn.utils``: gradient clipping and flattening parameters to one vector, as
``torch.nn.utils``."""
import math

import numpy as np

from .. import kernels
from ..engine import Tensor, no_grad, tensor
from ..engine.ops import cat, norm, stack

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "parameters_to_vector", "vector_to_parameters"]


def _tensor_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _grads(parameters):
    return [p.grad for p in _tensor_list(parameters) if p.grad is not None]


def _norm(t, norm_type):
    """``norm(t, norm_type)``; the 2-norm of a float32/float64 tensor as the square root of the
    sum_of_squares kernel (one pass over ``t``, where ``norm`` makes |t|, t * t and sums them)."""
    x = t._data
    if norm_type == 2.0 and x.dtype.type in (np.float32, np.float64):
        return Tensor(kernels.dispatch("sum_of_squares", x)(x)).sqrt()
    return norm(t, norm_type)


@no_grad()
def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all ``tensors`` together, as if concatenated into one vector (the
    norm of their norms); a 0-d Tensor (0.0 for no tensors). ``foreach`` is accepted for
    PyTorch compatibility and ignored."""
    tensors = _tensor_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    total_norm = norm(stack([_norm(t, norm_type) for t in tensors]), norm_type)
    if error_if_nonfinite and not math.isfinite(total_norm.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is "
                           f"non-finite, so it cannot be clipped. To disable this error and scale the "
                           f"gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return total_norm


@no_grad()
def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the parameters' gradients in place by ``min(1, max_norm / (total_norm + 1e-6))``."""
    grads = _grads(parameters)
    if not grads:
        return
    # the 1e-6 keeps the coefficient finite for zero gradients; the clamp never scales up
    clip_coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(clip_coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Rescale the gradients of ``parameters`` (an iterable of Tensors, or one) in place so that
    their total ``norm_type``-norm is at most ``max_norm``; returns the total norm before clipping
    (a 0-d Tensor)."""
    parameters = _tensor_list(parameters)
    total_norm = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


@no_grad()
def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.clamp_(min=-clip_value, max=clip_value)


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated, in order (differentiable). Shape: (total numel,)."""
    parameters = list(parameters)
    _check_same_device(parameters)
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Make each parameter's data the next ``numel`` entries of ``vec`` (sharing its memory), in order."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected ember.Tensor, but got: {type(vec).__name__}")
    parameters = list(parameters)
    _check_same_device(parameters + [vec])
    total = sum(p.numel() for p in parameters)
    if vec.ndim != 1 or vec.numel() < total:
        raise RuntimeError(f"vector_to_parameters: expected a vector of at least {total} elements "
                           f"for the parameters, got shape {tuple(vec.shape)}")
    start = 0
    for param in parameters:
        count = param.numel()
        param.data = vec[start:start + count].reshape(param.shape).data
        start += count


def _check_same_device(tensors):
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise TypeError(f"Found tensors on different devices ({', '.join(sorted(map(str, devices)))}); "
                        f"all parameters must be on the same device")
