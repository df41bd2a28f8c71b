"""CuPy ElementwiseKernels for the optimizer updates (kernels/optim.py): one pass per parameter,
updating it and its state arrays in place, with the references' arithmetic element by element in
the parameter's precision (every scalar is rounded to ``T`` first, as NumPy does with Python floats).
Options are kernel arguments: a branch every thread takes the same way costs nothing next to the
memory traffic. Any strides are fine, for the state arrays too (CuPy writes through them)."""
import functools

from ..registry import register
from . import runtime

# the gradient with maximize's sign (exact) and L2 weight decay; `param` still holds its old value
_SGD_DIRECTION = "T d = sign * grad; if (decay) d = d + weight_decay * param;"


def _adam_operation(amsgrad):
    # the second moment's running max keeps a NaN, as np.maximum does
    second = ("const T second = (max_sq != max_sq || max_sq > v) ? max_sq : v; max_sq = second;" if amsgrad
              else "const T second = v;")
    return f"""
    const T x = param * shrink;
    T d = sign * grad;
    if (l2) d = d + weight_decay * x;
    // lerp toward d by w1 in PyTorch's two forms (kernels/optim.py lerp_)
    const T m = small_weight ? exp_avg + w1 * (d - exp_avg) : d - (d - exp_avg) * (T(1) - w1);
    const T v = exp_avg_sq * beta2 + (w2 * d) * d;
    exp_avg = m;
    exp_avg_sq = v;
    {second}
    param = x + (-step_size * m) / (sqrt(second) / correction2 + eps)"""


_ADAM_INPUTS = ("T grad, T shrink, T sign, T weight_decay, bool l2, T w1, bool small_weight, T beta2, T w2, "
                 "T step_size, T correction2, T eps")
# Adam(capturable=True): the step count, and in a CUDA graph the learning rate and the betas, are 0-d
# device arrays, and what depends on them is worked out in the kernel, in double and then rounded to T
# as the host does, so that a replay recomputes it. Every thread reads the same few values: broadcast
# loads.
_ADAM_CAPTURABLE_INPUTS = ("T grad, float64 decoupled_decay, T sign, T weight_decay, bool l2, float64 step, "
                           "float64 lr, float64 beta1_64, float64 beta2_64, T eps")
_ADAM_CORRECTIONS = """
    const T shrink = T(1.0 - lr * decoupled_decay);
    const T w1 = T(1.0 - beta1_64);
    const bool small_weight = fabs((double)w1) < 0.5;
    const T beta2 = T(beta2_64);
    const T w2 = T(1.0 - beta2_64);
    const T step_size = T(lr / (1.0 - pow(beta1_64, step)));
    const T correction2 = T(sqrt(1.0 - pow(beta2_64, step)));"""

# kernel name -> (input parameters, output parameters, operation), as cupy.ElementwiseKernel takes them
KERNELS = {
    "ember_sgd_step": ("T grad, T lr, T weight_decay, bool decay, T sign", "T param",
                       f"{_SGD_DIRECTION} param = param + (-lr) * d"),
    # the first step starts the average at the gradient itself (the buffer holds garbage until then)
    "ember_sgd_step_momentum": (
        "T grad, T lr, T weight_decay, bool decay, T sign, T momentum, T keep, bool nesterov, bool first",
        "T param, T buffer",
        f"""{_SGD_DIRECTION}
        const T average = first ? d : buffer * momentum + keep * d;
        buffer = average;
        param = param + (-lr) * (nesterov ? d + momentum * average : average)"""),
    "ember_adam_step": (_ADAM_INPUTS, "T param, T exp_avg, T exp_avg_sq", _adam_operation(False)),
    "ember_adam_step_amsgrad": (_ADAM_INPUTS, "T param, T exp_avg, T exp_avg_sq, T max_sq",
                                _adam_operation(True)),
    "ember_adam_step_capturable": (_ADAM_CAPTURABLE_INPUTS, "T param, T exp_avg, T exp_avg_sq",
                                   _ADAM_CORRECTIONS + _adam_operation(False)),
    "ember_adam_step_amsgrad_capturable": (_ADAM_CAPTURABLE_INPUTS, "T param, T exp_avg, T exp_avg_sq, T max_sq",
                                           _ADAM_CORRECTIONS + _adam_operation(True)),
}


@functools.cache
def _kernel(name):
    return runtime.cupy().ElementwiseKernel(*KERNELS[name], name)


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize,
             first):
    """One SGD update of ``param`` (cupy, any shape) with ``grad`` (same shape), in place.
    ``momentum_buffer`` (same shape, or None when momentum is 0) is overwritten when ``first``."""
    scalars = (lr, weight_decay, weight_decay != 0, -1.0 if maximize else 1.0)
    grad = grad.astype(param.dtype, copy=False)
    if momentum_buffer is not None:  # not momentum != 0: in a CUDA graph momentum is a device array
        _kernel("ember_sgd_step_momentum")(grad, *scalars, momentum, 1 - dampening, bool(nesterov),
                                           bool(first), param, momentum_buffer)
    else:
        _kernel("ember_sgd_step")(grad, *scalars, param)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
              decoupled, maximize, step):
    """One Adam update of ``param`` (cupy, any shape) at step number ``step`` (1 for the first), with
    its moment estimates ``exp_avg``, ``exp_avg_sq`` and, for AMSGrad, ``max_exp_avg_sq`` (else None),
    all of param's shape and updated in place. With Adam(capturable=True) ``step`` is a 0-d device
    array, and in a CUDA graph so are ``lr`` and the betas (float64)."""
    name = "ember_adam_step" if max_exp_avg_sq is None else "ember_adam_step_amsgrad"
    signs = (-1.0 if maximize else 1.0, weight_decay, weight_decay != 0 and not decoupled)
    if isinstance(step, (int, float)):
        weight = param.dtype.type(1 - beta1)  # lerp_'s form is chosen on the rounded weight
        shrink = 1 - lr * weight_decay if decoupled and weight_decay != 0 else 1.0  # x * 1 is exact
        scalars = (shrink, *signs, 1 - beta1, bool(abs(weight) < 0.5), beta2, 1 - beta2,
                   lr / (1 - beta1 ** step), (1 - beta2 ** step) ** 0.5, eps)
    else:  # the count on the device; lr and the betas numbers or (in a CUDA graph) 0-d float64 arrays
        scalars = (weight_decay if decoupled else 0.0, *signs, step.astype("float64", copy=False), lr, beta1,
                   beta2, eps)
        name += "_capturable"
    states = (param, exp_avg, exp_avg_sq) + (() if max_exp_avg_sq is None else (max_exp_avg_sq,))
    _kernel(name)(grad.astype(param.dtype, copy=False), *scalars, *states)


register("sgd_step", "cuda", "cupy", runtime.loader(sgd_step))
register("adam_step", "cuda", "cupy", runtime.loader(adam_step))
