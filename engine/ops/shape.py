"""Shape ops: reshape, expand, permute and friends. Their gradients only move elements around.

Ops whose NumPy result shares memory with the input return a *view*: it shares the input's version
counter, so an in-place change through either is seen by backward.
"""
import numpy as np

from ..device import array_module
from ..function import Function
from ..tensor import Tensor

__all__ = ["reshape", "expand", "broadcast_to"]


def as_view(out, source):
    """Mark ``out`` as a view of ``source`` when their arrays share memory."""
    data, src = out._data, source._data
    if data.base is not None and array_module(data).may_share_memory(data, src):
        out._version = source._version
        out._base = source._base if source._base is not None else source
    return out


def _shape_arg(op, shape):
    """Accept ``f(2, 3)`` and ``f((2, 3))``."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    try:
        return tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}(): shape must be a sequence of ints, got {shape!r}") from None


def _infer_size(op, shape, numel, source_shape):
    if list(shape).count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred (shape {list(shape)})")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}: invalid shape dimension {s} in {list(shape)}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                               f"(input shape {tuple(source_shape)})")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                           f"(input shape {tuple(source_shape)})")
    return shape


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape), None


def reshape(input, *shape):
    """The same elements in a new shape (one dim may be -1); a view when memory allows, else a copy.
    Shape: (*) -> shape."""
    shape = _infer_size("reshape", _shape_arg("reshape", shape), input._data.size, input.shape)
    return as_view(Reshape.apply(input, shape), input)


def view(input, *shape):
    """Like ``reshape`` but always a view: raises if the memory layout does not allow one."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)):
        return input.to(shape[0])  # view(dtype) is not supported as a reinterpretation
    shape = _infer_size("view", _shape_arg("view", shape), input._data.size, input.shape)
    out = Reshape.apply(input, shape)
    if input._data.size and not array_module(out._data).shares_memory(out._data, input._data):
        raise RuntimeError(f"view size is not compatible with input tensor's size and stride (input "
                           f"shape {tuple(input.shape)}, stride {input.stride()}, target {list(shape)})"
                           f". Use .reshape(...) instead.")
    return as_view(out, input)


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.sum_to_size(ctx.shape), None


def expand(input, *sizes):
    """Broadcast size-1 dims to ``sizes`` without copying (-1 keeps a dim); new leading dims may be
    added. Shape: (*) -> sizes."""
    sizes = _shape_arg("expand", sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or "
                           f"equal to the number of dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"expand: the expanded size of the tensor (-1) isn't allowed in a "
                                   f"leading, non-existing dimension {i}")
            target.append(s)
            continue
        current = shape[i - lead]
        if s == -1:
            s = current
        if current != s and current != 1:
            raise RuntimeError(f"expand: The expanded size of the tensor ({s}) must match the existing "
                               f"size ({current}) at non-singleton dimension {i}.  Target sizes: "
                               f"{list(sizes)}.  Tensor sizes: {list(shape)}")
        target.append(s)
    target = tuple(target)
    if target == shape:
        return input
    return as_view(Expand.apply(input, target), input)


def broadcast_to(input, size):
    """``expand`` to ``size`` (PyTorch's ``broadcast_to``). Shape: (*) -> size."""
    return expand(input, tuple(size))


def expand_as(input, other):
    return expand(input, other.shape)


Tensor.reshape = reshape
Tensor.view = view
Tensor.expand = expand
Tensor.expand_as = expand_as
Tensor.broadcast_to = broadcast_to
