"""Reductions: sum, mean and friends over ``dim`` (int, tuple or None) with ``keepdim``.

The gradient of a reduction spreads ``grad`` back over the reduced dims: reshape it to the kept
dims (size 1) and expand to the input's shape.
"""
from ..function import Function
from ..tensor import Tensor, _wrap_dim

__all__ = ["sum", "mean", "sum_to_size"]


def normalize_dims(dim, ndim, op):
    """``dim`` as a sorted tuple of non-negative axes, or None for all; raises naming the op on a
    dim out of range or repeated."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    wrapped = tuple(sorted(_wrap_dim(d, ndim, op) for d in dims))
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"{op}: dim {dims} appears multiple times in the list of dims")
    return wrapped if ndim else None


def kept_shape(shape, dims):
    """The shape of a keepdim reduction of ``shape`` over ``dims`` (None: all dims)."""
    return tuple(1 if dims is None or i in dims else s for i, s in enumerate(shape))


def restore_reduced(grad, shape, dims, keepdim):
    """Expand the gradient of a reduction back to the input ``shape``."""
    if not keepdim:
        grad = grad.reshape(kept_shape(shape, dims))
    return grad.expand(shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        out = x.sum(axis=dims, keepdims=keepdim)
        return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out

    @staticmethod
    def backward(ctx, grad):
        return restore_reduced(grad, ctx.shape, ctx.dims, ctx.keepdim), None, None


def sum(input, dim=None, keepdim=False, dtype=None):
    """Sum over ``dim`` (all dims if None). Integer and bool inputs sum to int64, as in PyTorch.
    Shape: (*) -> (*) with the reduced dims removed (or size 1 with ``keepdim``)."""
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind in "biu":
        input = input.long()
    return Sum.apply(input, normalize_dims(dim, input.ndim, "sum"), keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    """Arithmetic mean over ``dim``; floating inputs only, as in PyTorch. Shape: like ``sum``."""
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {input.dtype.name.capitalize()}")
    dims = normalize_dims(dim, input.ndim, "mean")
    count = input.numel() if dims is None else _product(input.shape[d] for d in dims)
    return Sum.apply(input, dims, keepdim) / count if count else Sum.apply(input, dims, keepdim) * float("nan")


def _product(values):
    result = 1
    for v in values:
        result *= v
    return result


class SumToSize(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        lead = x.ndim - len(shape)
        dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                          if s == 1 and x.shape[lead + i] != 1)
        return x.sum(axis=dims, keepdims=True).reshape(shape) if dims else x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.expand(ctx.shape), None


def sum_to_size(input, *size):
    """Sum ``input`` down to ``size``, which ``input`` must be broadcastable from: the gradient of
    broadcasting. Shape: (*) -> size."""
    shape = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else tuple(size)
    if tuple(input.shape) == shape:
        return input
    lead = input.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != input.shape[lead + i] for i, s in enumerate(shape)):
        raise RuntimeError(f"sum_to_size: size {list(shape)} is not expandable to size "
                           f"{list(input.shape)}")
    return SumToSize.apply(input, shape)


Tensor.sum = sum
Tensor.mean = mean
Tensor.sum_to_size = sum_to_size
