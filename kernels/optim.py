"""Optimizer updates, in place: SGD (momentum, dampening, Nesterov, weight decay) and Adam
(AMSGrad, L2 or decoupled weight decay).

The NumPy references follow PyTorch's single-tensor CPU kernels operation by operation (scalars
rounded to the parameter's precision first, as NumPy does with Python floats), so float32 runs
match PyTorch's to rounding; the C++ kernels do the same arithmetic in one pass per parameter.
Every array argument but ``grad`` is updated in place and must be C-contiguous for the C++ kernels
(the optimizers keep their state that way).
"""
import numpy as np

from .cpu_extension import kernel
from .registry import register


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize,
             first):
    """One SGD update of ``param`` (any shape) with ``grad`` (same shape). ``momentum_buffer`` (same
    shape, or None when momentum is 0) is overwritten with the gradient when ``first``."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        if first:  # the first step starts the average at the gradient itself
            momentum_buffer[...] = grad
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        grad = grad + momentum * momentum_buffer if nesterov else momentum_buffer
    param += -lr * grad


def lerp_(start, end, weight):
    """``start += weight * (end - start)`` in place, in PyTorch's two forms: the one from ``end``
    for weights of at least one half keeps the result exact at ``weight == 1``. The weight is
    rounded to the arrays' precision first, as PyTorch's kernel does."""
    weight = start.dtype.type(weight)
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
              decoupled, maximize, step):
    """One Adam update of ``param`` (any shape) at step number ``step`` (1 for the first), with its
    moment estimates ``exp_avg``, ``exp_avg_sq`` and, for AMSGrad, ``max_exp_avg_sq`` (else None),
    all of param's shape."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    lerp_(exp_avg, grad, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        denom = np.sqrt(max_exp_avg_sq)
    else:
        denom = np.sqrt(exp_avg_sq)
    denom /= bias_correction2_sqrt
    denom += eps
    update = -step_size * exp_avg
    update /= denom
    param += update


def _in_place_where_possible(name, reference, updated):
    """The C++ kernel ``name`` where the arrays at positions ``updated`` (and the first, the
    parameter) can be written in place, else the reference: a state array that is not contiguous
    (or not of the parameter's dtype) would otherwise be refused."""
    def loader():
        fast = kernel(name)()

        def step(*args):
            param = args[0]
            arrays = [args[i] for i in updated if args[i] is not None]
            if all(a.flags.c_contiguous and a.flags.writeable and a.dtype == param.dtype and a.dtype.kind == "f"
                   for a in [param] + arrays):
                return fast(*args)
            return reference(*args)
        return step
    return loader


register("sgd_step", "cpu", "cpp", _in_place_where_possible("sgd_step", sgd_step, (2,)))
register("sgd_step", "cpu", "numpy", lambda: sgd_step)
register("adam_step", "cpu", "cpp", _in_place_where_possible("adam_step", adam_step, (2, 3, 4)))
register("adam_step", "cpu", "numpy", lambda: adam_step)
