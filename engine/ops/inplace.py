"""In-place ops (``add_``, ``mul_``, ``zero_``, ``__setitem__``...) built on their out-of-place twins.

``inplace_update(target, op, *args)`` computes ``op(target, *args)`` out of place and writes the
result into ``target``'s memory, so views and NumPy arrays sharing that memory see the change. Then
it bumps the version counter: any node that saved ``target`` for backward will refuse to run.

When autograd is involved, ``target`` takes the new node as its ``grad_fn``, and the op reads a
copy of the old value, so the old value it may have saved stays right after the write.
"""
import numpy as np

from ..device import array_module
from ..function import Function
from ..grad_mode import _GradState, no_grad
from ..tensor import Tensor


def _tracks_grad(target, args):
    if not _GradState.enabled:
        return False
    return target._requires_grad or any(isinstance(a, Tensor) and a._requires_grad for a in args)


def inplace_update(target, op, *args, op_name=None, **kwargs):
    """Write ``op(target, *args, **kwargs)`` into ``target`` and return ``target``."""
    name = op_name or getattr(op, "__name__", "inplace") + "_"
    tracking = _tracks_grad(target, args)
    if tracking:
        if target.grad_fn is None and target._requires_grad:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place "
                               f"operation. Wrap it in `with ember.no_grad():` or clone() it first.")
        if target._base is not None:
            raise RuntimeError(f"{name}: in-place operation with autograd on a view of another tensor "
                               f"is not supported by ember; apply the op out of place, or write "
                               f"through the base tensor with indexing (base[idx] = value)")
        old = Tensor(target._data.copy())
        old.grad_fn, old._requires_grad = target.grad_fn, target._requires_grad
        result = op(old, *args, **kwargs)
        if not result._requires_grad:  # a constant written over a value that required grad
            result = Overwritten.apply(old, result)
    else:
        with no_grad():
            result = op(target, *args, **kwargs)
    write_into(target, result._data, name)
    if tracking and result._requires_grad:
        if target._retains_grad:  # as PyTorch: the retained .grad is that of the newest value
            target.grad_fn.retained, result.grad_fn.retained = None, target.grad_fn.retained
        target.grad_fn = result.grad_fn
        target._requires_grad = True
    return target


class Overwritten(Function):
    """A value that does not depend on the one it overwrote (``fill_``, ``zero_``, a comparison in
    place...): as in PyTorch, the old value gets a zero gradient."""

    @staticmethod
    def forward(ctx, old, new):
        return new.astype(old.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return Tensor(array_module(grad._data).zeros_like(grad._data)), None


def write_into(target, array, name):
    """Copy ``array`` into ``target``'s memory with PyTorch's checks on shape and dtype."""
    destination = target._data
    if array.shape != destination.shape:
        if np.broadcast_shapes(array.shape, destination.shape) != destination.shape:
            raise RuntimeError(f"{name}: output with shape {list(destination.shape)} doesn't match the "
                               f"broadcast shape {list(np.broadcast_shapes(array.shape, destination.shape))}")
    if _category(array.dtype) > _category(destination.dtype):
        raise RuntimeError(f"{name}: result type {_type_name(array.dtype)} can't be cast to the desired "
                           f"output type {_type_name(destination.dtype)}")
    if not getattr(destination.flags, "writeable", True):  # CuPy arrays are always writeable
        if 0 in destination.strides and destination.size > 1:
            raise RuntimeError(f"{name}: unsupported operation: more than one element of the written-to "
                               f"tensor refers to a single memory location (an expanded tensor). Please "
                               f"clone() the tensor before performing the operation.")
        raise RuntimeError(f"{name}: the written-to tensor's memory is read-only (e.g. from_numpy of a "
                           f"non-writeable array). Please clone() the tensor before performing the "
                           f"operation.")
    destination[...] = array
    target._version[0] += 1


def _category(np_dtype):
    return {"b": 0, "u": 1, "i": 1, "f": 2}[np_dtype.kind]


def _type_name(np_dtype):
    return {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
            "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}[np_dtype.name]


def inplace_method(op, name):
    """A Tensor method ``name`` (e.g. 'add_') that applies ``op`` in place."""
    def method(self, *args, **kwargs):
        return inplace_update(self, op, *args, op_name=name, **kwargs)
    method.__name__ = name
    method.__doc__ = f"In-place version of ``{op.__name__}``; returns ``self``."
    return method


def bind_inplace_methods(namespace, names):
    """For each op name, give Tensor its in-place method ``name_``."""
    for op_name in names:
        setattr(Tensor, op_name + "_", inplace_method(namespace[op_name], op_name + "_"))


def _fill(target, value):
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        return value.to(target.dtype).expand(target.shape).clone()
    return Tensor(array_module(target._data).full(target._data.shape, value, dtype=target._data.dtype))


def _copy(target, source):
    if not isinstance(source, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(source).__name__}")
    source = source.to(target.dtype).to(target.device)
    try:
        expanded = source.expand(target.shape)
    except RuntimeError:
        raise RuntimeError(f"copy_: source of shape {list(source.shape)} cannot be broadcast to "
                           f"the destination shape {list(target.shape)}") from None
    return expanded.clone() if expanded is source else expanded


Tensor.fill_ = inplace_method(_fill, "fill_")
Tensor.zero_ = lambda self: inplace_update(self, _fill, 0, op_name="zero_")
Tensor.copy_ = inplace_method(_copy, "copy_")
