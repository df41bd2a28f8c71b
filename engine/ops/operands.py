"""Checking and promoting the operands of an op: device, dtype (PyTorch's rules) and broadcasting."""
import numbers

import numpy as np

from .. import dtypes
from ..tensor import Tensor


def check_operand(value, op, position):
    """A Tensor or a Python number; NumPy scalars become Python numbers, which promote as PyTorch's
    do (NumPy 2 would treat ``np.float64(2.5)`` as full-width and upcast a float32 tensor)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    if isinstance(value, numbers.Number):
        return value
    raise TypeError(f"{op}(): argument {position} must be a Tensor or a number, "
                    f"not {type(value).__name__}")


def check_same_device(op, *tensors):
    """Every tensor operand must live on one device."""
    first = None
    for t in tensors:
        if isinstance(t, Tensor):
            if first is None:
                first = t
            elif type(t._data) is not type(first._data) or (
                    type(t._data) is not np.ndarray and t.device != first.device):
                raise RuntimeError(f"{op}: Expected all tensors to be on the same device, but found at "
                                   f"least two devices, {first.device} and {t.device}!")


def promote(op, *operands):
    """Cast tensor operands to their common result type (PyTorch's promotion rules).

    Python numbers stay numbers: NumPy treats them as 'weak' scalars, which keep the tensor dtype,
    matching PyTorch once the tensor has the result type.
    """
    if len(operands) == 2 and _same_type_pair(*operands):
        return operands
    operands = [check_operand(x, op, i) for i, x in enumerate(operands)]
    tensors = [x for x in operands if isinstance(x, Tensor)]
    check_same_device(op, *tensors)
    first = tensors[0]._data.dtype
    if all(t._data.dtype == first for t in tensors) and all(
            _number_fits(x, first.kind) for x in operands if not isinstance(x, Tensor)):
        return operands
    target = dtypes.result_type(*operands)
    return [x.to(target) if isinstance(x, Tensor) and x._data.dtype != target.numpy else x
            for x in operands]


def _same_type_pair(a, b):
    """Two cpu tensors of one dtype, or a float tensor and a Python float."""
    if not isinstance(a, Tensor):
        return False
    data = a._data
    if type(data) is not np.ndarray:
        return False
    if isinstance(b, Tensor):
        return type(b._data) is np.ndarray and b._data.dtype == data.dtype
    return type(b) is float and data.dtype.kind == "f"


def _number_fits(x, kind):
    # A number that does not raise the category of the tensor dtype leaves it unchanged.
    if kind == "f":
        return True
    if kind in "iu":
        return not isinstance(x, float)
    return isinstance(x, bool)


def broadcast_error(op, *shapes):
    """PyTorch's message for shapes that do not broadcast, naming the op and the dimension."""
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    for dim in range(ndim):
        sizes = {p[dim] for p in padded} - {1}
        if len(sizes) > 1:
            a, b = [p[dim] for p in padded if p[dim] != 1][:2]
            return RuntimeError(f"{op}: The size of tensor a ({a}) must match the size of tensor b "
                                f"({b}) at non-singleton dimension {dim} "
                                f"(shapes {' and '.join(str(tuple(s)) for s in shapes)})")
    return RuntimeError(f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast")


def apply_broadcasting(op, function, *operands, **kwargs):
    """``function.apply(*operands)``, turning NumPy's broadcast failure into an error naming the op."""
    try:
        return function.apply(*operands, **kwargs)
    except ValueError as error:
        raise _broadcast_failure(op, error, operands) from None


def apply_binary(op, function, input, other):
    """Promote two operands and apply an elementwise ``function``: the path of every binary op, so
    the common case (same dtype, or a float tensor and a Python float) costs one check."""
    if not _same_type_pair(input, other):
        input, other = promote(op, input, other)
    try:
        return function.apply(input, other)
    except ValueError as error:
        raise _broadcast_failure(op, error, (input, other)) from None


def _broadcast_failure(op, error, operands):
    shapes = [x.shape for x in operands if isinstance(x, Tensor)]
    if len(shapes) > 1 and "broadcast" in str(error):
        return broadcast_error(op, *shapes)
    return error
