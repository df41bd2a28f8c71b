"""Numerical gradient checks: compare autograd with central finite differences (use float64)."""
import numpy as np

from .autograd import grad as autograd_grad
from .device import array_module
from .tensor import Tensor


class GradcheckError(RuntimeError):
    pass


def _differentiable_inputs(inputs):
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    return inputs, [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]


def _flat_output(func, inputs):
    out = func(*inputs)
    outs = (out,) if isinstance(out, Tensor) else tuple(o for o in out if isinstance(o, Tensor))
    return [o for o in outs if o._data.dtype.kind == "f"]


def numerical_jacobian(func, inputs, eps=1e-6):
    """d(outputs)/d(input) by central differences: one (numel_out, numel_in) matrix per pair."""
    inputs, diff = _differentiable_inputs(inputs)
    outputs = _flat_output(func, inputs)
    jacobians = []
    for t in diff:
        data = t._data  # perturbed in place, element by element, whatever its strides
        columns = []
        for index in np.ndindex(data.shape):
            original = data[index].item()
            data[index] = original + eps
            plus = [o._data.astype(np.float64).ravel().copy() for o in _flat_output(func, inputs)]
            data[index] = original - eps
            minus = [o._data.astype(np.float64).ravel().copy() for o in _flat_output(func, inputs)]
            data[index] = original
            columns.append(np.concatenate([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
                           if plus else np.zeros(0))
        jacobians.append(np.stack(columns, axis=1) if columns else
                         np.zeros((sum(o._data.size for o in outputs), 0)))
    return jacobians


def analytical_jacobian(func, inputs):
    """d(outputs)/d(input) by reverse mode, one row (a vector-Jacobian product) per output element;
    the rows of an output that does not require grad stay zero."""
    inputs, diff = _differentiable_inputs(inputs)
    outputs = _flat_output(func, inputs)
    jacobians = [np.zeros((sum(o._data.size for o in outputs), t._data.size)) for t in diff]
    row = 0
    for o in outputs:
        if not o.requires_grad:
            row += o._data.size
            continue
        for k in range(o._data.size):
            seed = np.zeros(o._data.shape, o._data.dtype)  # C order, so the reshape below is a view
            seed.reshape(-1)[k] = 1
            grads = autograd_grad(o, diff, Tensor(seed), retain_graph=True, allow_unused=True)
            for j, g in enumerate(grads):
                if g is not None:
                    jacobians[j][row] = g._data.reshape(-1)
            row += 1
    return jacobians


def gradcheck(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True if autograd's gradients of ``func(*inputs)`` match finite differences.

    ``inputs``: Tensors (float64, ``requires_grad=True`` for those to check) and other arguments.
    An entry passes when ``|analytical - numerical| <= atol + rtol * |numerical|``. On a mismatch,
    raises ``GradcheckError`` (or returns False) with a report of the worst entry: which input and
    output, their element indices, both values, and the absolute and relative errors.
    """
    return _check("gradcheck", func, inputs, eps, atol, rtol, raise_exception)


def _check(name, func, inputs, eps, atol, rtol, raise_exception, outputs_are_gradients=False):
    inputs, diff = _differentiable_inputs(inputs)
    if not diff:
        raise ValueError(f"{name} expects at least one input tensor to require gradient, but none "
                         f"of them have requires_grad=True.")
    for t in diff:
        if t._data.dtype != np.float64:
            raise GradcheckError(f"{name}: input of dtype {t.dtype} is not float64; finite "
                                 f"differences are only reliable in double precision")
    numerical = numerical_jacobian(func, inputs, eps)
    analytical = analytical_jacobian(func, inputs)
    for index, (n, a) in enumerate(zip(numerical, analytical)):
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.size and (excess > 0).any():
            output_shapes = [o._data.shape for o in _flat_output(func, inputs)]  # for the report only
            message = _report(name, index, diff[index], output_shapes, a, n, excess, atol, rtol,
                              outputs_are_gradients)
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def _report(name, index, input, output_shapes, analytical, numerical, excess, atol, rtol,
            outputs_are_gradients):
    """The readable account of the worst Jacobian entry of input ``index``."""
    row, column = np.unravel_index(np.argmax(excess), excess.shape)
    output, offset = 0, int(row)
    while offset >= int(np.prod(output_shapes[output])):  # rows run over the outputs, one after another
        offset -= int(np.prod(output_shapes[output]))
        output += 1
    output_element = tuple(int(i) for i in np.unravel_index(offset, output_shapes[output]))
    input_element = tuple(int(i) for i in np.unravel_index(column, input.shape))
    a, n = analytical[row, column], numerical[row, column]
    error = abs(a - n)
    relative = error / abs(n) if n != 0 else float("inf")
    what = f"the gradient of input {output}" if outputs_are_gradients else f"output {output}"
    return (f"{name}: Jacobian mismatch for input {index} (shape {tuple(input.shape)}, {input._data.dtype})\n"
            f"  worst entry: {what} element {output_element}, with respect to input element "
            f"{input_element}\n"
            f"    analytical (backward)     {a:.10g}\n"
            f"    numerical (central diff)  {n:.10g}\n"
            f"    abs error {error:.3g}, rel error {relative:.3g}; allowed: atol {atol} + rtol {rtol} "
            f"* |numerical| = {atol + rtol * abs(n):.3g}\n"
            f"  {int((excess > 0).sum())} of {excess.size} entries of this Jacobian are outside the "
            f"tolerance")


def gradgradcheck(func, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True):
    """gradcheck of the first derivatives (a vector-Jacobian product with random ``grad_outputs``):
    checks that backward's own backward (create_graph=True) is right."""
    inputs, diff = _differentiable_inputs(inputs)
    outputs = _flat_output(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [Tensor(rng.standard_normal(o._data.shape)) for o in outputs]
    grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)

    def first_derivatives(*args):
        outs = _flat_output(func, args)
        wrt = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        grads = autograd_grad(outs, wrt, grad_outputs, create_graph=True, allow_unused=True)
        # an input the outputs do not use has a zero gradient: keep its place, so that output k of
        # this function is the gradient of differentiable input k (the report names it so)
        return tuple(Tensor(array_module(a._data).zeros_like(a._data)) if g is None else g
                     for a, g in zip(wrt, grads))

    return _check("gradgradcheck", first_derivatives, inputs, eps, atol, rtol, raise_exception,
                  outputs_are_gradients=True)
