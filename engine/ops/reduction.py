"""Reductions over ``dim`` (int, tuple or None) with ``keepdim``: sums and products, extrema and their
indices, statistics, norms, logical reductions, and the scans ``cumsum`` and ``cumprod``.

The gradient of a reduction spreads ``grad`` back over the reduced dims: reshape it to the kept
dims (size 1) and expand to the input's shape (``restore_reduced``).
"""
import builtins
import collections
import functools
import math
import numbers
import warnings

import numpy as np

from .. import dtypes
from ..device import array_module
from ..function import Function
from ..tensor import Tensor, _wrap_dim
from .elementwise import maximum, minimum, where
from .inplace import inplace_method

__all__ = ["sum", "mean", "sum_to_size", "prod", "max", "min", "amax", "amin", "argmax", "argmin",
           "var", "std", "var_mean", "std_mean", "logsumexp", "norm", "cumsum", "cumprod", "all",
           "any", "count_nonzero"]


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


def reduction_dims(dim, ndim, op):
    """``normalize_dims`` for a reduction, where an empty list of dims means all of them, as in
    PyTorch."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 0:
        return None
    return normalize_dims(dim, ndim, op)


def _single_dim(dim, ndim, op):
    """The one ``dim`` of an op along a dim (max/min with dim, argmax, cumsum...), wrapped."""
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    return _wrap_dim(int(dim), ndim, op)


def kept_shape(shape, dims):
    """The shape of a keepdim reduction of ``shape`` over ``dims`` (None: all dims)."""
    return tuple(1 if dims is None or i in dims else s for i, s in enumerate(shape))


def restore_reduced(grad, shape, dims, keepdim):
    """Expand the gradient of a reduction back to the input ``shape``."""
    if not keepdim:
        grad = grad.reshape(kept_shape(shape, dims))
    return grad.expand(shape)


def _reduced_size(shape, dims):
    """How many input elements make each output element."""
    return math.prod(shape) if dims is None else math.prod(shape[d] for d in dims)


def _accumulating(input, dtype):
    """The input of a sum-like op: cast to ``dtype`` if given, else integers and bools in int64."""
    if dtype is not None:
        return input.to(dtype)
    return input.long() if input._data.dtype.kind in "biu" else input


def _floating(input):
    """Integer and bool inputs of ops with real results are computed in the default float dtype."""
    return input.to(dtypes.get_default_dtype()) if input._data.dtype.kind in "biu" else input


def _check_nonempty(op, shape, dims):
    """Extrema have no identity: an empty reduction raises, with PyTorch's messages."""
    if dims is None and math.prod(shape) == 0:
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                           f"Specify the reduction dim with the 'dim' argument. (input shape "
                           f"{tuple(shape)})")
    for d in dims or ():
        if shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size. (input shape "
                             f"{tuple(shape)})")


def _zero_where_zero(base, fn):
    """``fn(base)`` where ``base`` is nonzero, else 0. ``fn`` never sees the zeros, so neither this
    value nor its derivative (double backward) turns into inf or NaN there."""
    zero = base == 0
    return where(zero, 0.0, fn(where(zero, 1.0, base)))


# ---- sums and means -----------------------------------------------------------------------------

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
    input = _accumulating(input, dtype)
    return Sum.apply(input, reduction_dims(dim, input.ndim, "sum"), keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    """Arithmetic mean over ``dim``; floating inputs only, as in PyTorch. Shape: like ``sum``."""
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {input.dtype.name.capitalize()}")
    dims = reduction_dims(dim, input.ndim, "mean")
    count = _reduced_size(input.shape, dims)
    total = Sum.apply(input, dims, keepdim)
    return total / count if count else total * float("nan")


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
    if lead < 0 or builtins.any(s != 1 and s != input.shape[lead + i] for i, s in enumerate(shape)):
        raise RuntimeError(f"sum_to_size: size {list(shape)} is not expandable to size "
                           f"{list(input.shape)}")
    return SumToSize.apply(input, shape)


# ---- products -----------------------------------------------------------------------------------

class GradientAtZeros(Function):
    """The gradient of ``prod`` or ``cumprod`` where the input has zeros, so that dividing the
    output by the input fails: ``compute(xp, x, grad)`` builds it from products of the *other*
    elements on raw arrays. That makes it once differentiable: its own backward raises."""

    @staticmethod
    def forward(ctx, x, grad, compute, op):
        ctx.op = op
        return compute(array_module(x), x, grad)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(f"{ctx.op}: the second derivative at an input that contains zeros is not "
                           f"implemented (the first derivative there is computed on raw arrays)")


def _exclusive_cumprod(xp, a):
    """Along the last axis: the product of the elements strictly before each one."""
    return xp.concatenate([xp.ones_like(a[..., :1]), xp.cumprod(a[..., :-1], axis=-1)], axis=-1)


def _prod_grad_at_zeros(xp, x, grad, dims):
    # d prod / dx_i = the product of the other elements: with the reduced dims flattened last, the
    # product of those before i times the product of those after i
    axes = tuple(range(x.ndim)) if dims is None else dims
    last = tuple(range(-len(axes), 0))
    moved = xp.moveaxis(x, axes, last)
    flat = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))
    others = _exclusive_cumprod(xp, flat) * xp.flip(_exclusive_cumprod(xp, xp.flip(flat, -1)), -1)
    return grad * xp.moveaxis(others.reshape(moved.shape), last, axes)


class Prod(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = array_module(x)
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.has_zeros = bool((x == 0).any())
        out = xp.asarray(xp.prod(x, axis=dims, keepdims=keepdim))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        grad = restore_reduced(grad, x.shape, ctx.dims, ctx.keepdim)
        if ctx.has_zeros:
            compute = functools.partial(_prod_grad_at_zeros, dims=ctx.dims)
            return GradientAtZeros.apply(x, grad, compute, op="prod"), None, None
        # d prod / dx_i = prod / x_i when no x is zero
        return grad * restore_reduced(out, x.shape, ctx.dims, ctx.keepdim) / x, None, None


def prod(input, dim=None, keepdim=False, dtype=None):
    """Product over ``dim`` (an int; all elements if None). Integer and bool inputs multiply in
    int64, as in PyTorch. Shape: (*) -> (*) without ``dim`` (size 1 with ``keepdim``)."""
    input = _accumulating(input, dtype)
    return Prod.apply(input, normalize_dims(dim, input.ndim, "prod"), keepdim)


# ---- extrema ------------------------------------------------------------------------------------

def _evenly_distribute(grad, x, value, dims, keepdim):
    """The gradient of an extremum ``value`` of ``x``: ``grad`` split evenly among the elements
    equal to it (ties), as PyTorch does; a NaN element matches a NaN result."""
    grad, value = (restore_reduced(t, x.shape, dims, keepdim) for t in (grad, value))
    hits = (x == value) | (x.isnan() & value.isnan())
    return where(hits, grad / hits.sum(dims, keepdim=True), 0.0)


def _extremum_function(name, reduce):
    """The Function of amax/amin: ``reduce`` is the name of the array method (max/min)."""

    def forward(ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        out = array_module(x).asarray(getattr(x, reduce)(axis=dims, keepdims=keepdim))
        ctx.save_for_backward(x, out)
        return out

    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return _evenly_distribute(grad, x, out, ctx.dims, ctx.keepdim), None, None

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


Amax = _extremum_function("Amax", "max")
Amin = _extremum_function("Amin", "min")


class TakeAlongDim(Function):
    """The values of max/min along ``dim``: ``x`` at ``indices`` (shaped like a keepdim result)."""

    @staticmethod
    def forward(ctx, x, indices, dim, keepdim):
        xp = array_module(x)
        ctx.shape, ctx.dim, ctx.keepdim = x.shape, dim, keepdim
        positions = xp.arange(x.shape[dim]).reshape((-1,) + (1,) * (x.ndim - dim - 1))
        ctx.save_for_backward(positions == indices)  # one-hot of the chosen elements: a constant
        values = xp.take_along_axis(x, indices, axis=dim)
        return values if keepdim else values.squeeze(dim)

    @staticmethod
    def backward(ctx, grad):
        chosen, = ctx.saved_tensors
        # only the chosen element of each slice gets the gradient: ties are not split here
        grad = restore_reduced(grad, ctx.shape, (ctx.dim,), ctx.keepdim)
        return where(chosen, grad, 0.0), None, None, None


max_result = collections.namedtuple("max", ["values", "indices"], module="ember.return_types")
min_result = collections.namedtuple("min", ["values", "indices"], module="ember.return_types")

# op -> (full reduction, binary form, index op, result type of the dim form)
_EXTREMA = {"max": (Amax, maximum, "argmax", max_result), "min": (Amin, minimum, "argmin", min_result)}


def _arg_extremum(op, input, dim, keepdim, which):
    """Indices (int64) of the extremum ``which`` ('argmax' or 'argmin') for ``op``'s messages."""
    x = input._data
    xp = array_module(x)
    if dim is None:
        _check_nonempty(op, x.shape, None)
        index = xp.asarray(getattr(xp, which)(x), dtype=xp.int64)
        return Tensor(index.reshape((1,) * x.ndim if keepdim else ()))
    dim = _single_dim(dim, x.ndim, op)
    if x.ndim == 0:
        return Tensor(xp.zeros((), dtype=xp.int64))
    _check_nonempty(op, x.shape, (dim,))
    return Tensor(getattr(xp, which)(x, axis=dim, keepdims=keepdim).astype(xp.int64, copy=False))


def _extremum(op, input, dim, keepdim):
    full, binary, which, result = _EXTREMA[op]
    if isinstance(dim, Tensor):
        return binary(input, dim)
    if dim is None:
        _check_nonempty(op, input.shape, None)
        return full.apply(input, None, False)
    dim = _single_dim(dim, input.ndim, op)
    if input.ndim == 0:  # a 0-d tensor is its own extremum, at index 0
        return _extremum(op, input.reshape(1), 0, False)
    indices = _arg_extremum(op, input, dim, True, which)
    values = TakeAlongDim.apply(input, indices._data, dim, keepdim)
    return result(values, indices if keepdim else indices.reshape(values.shape))


def max(input, dim=None, keepdim=False):
    """The largest elements, in PyTorch's three forms:

    - ``max(input)``: the largest element, 0-d; its gradient is split evenly among ties.
    - ``max(input, dim, keepdim=False)``: ``(values, indices)`` along ``dim`` (int64 indices; the
      gradient goes to the index only), with ``.values`` and ``.indices``. Shape: (*) -> reduced.
    - ``max(input, other)``: elementwise ``maximum``.
    """
    return _extremum("max", input, dim, keepdim)


def min(input, dim=None, keepdim=False):
    """The smallest elements: ``min(input)``, ``min(input, dim, keepdim)`` -> ``(values, indices)``,
    ``min(input, other)``; see ``max``."""
    return _extremum("min", input, dim, keepdim)


def amax(input, dim=(), keepdim=False):
    """Largest value over ``dim`` (all dims if empty or None); the gradient is split evenly among
    ties. Shape: (*) -> reduced."""
    dims = reduction_dims(dim, input.ndim, "amax")
    _check_nonempty("amax", input.shape, dims)
    return Amax.apply(input, dims, keepdim)


def amin(input, dim=(), keepdim=False):
    """Smallest value over ``dim`` (all dims if empty or None); see ``amax``."""
    dims = reduction_dims(dim, input.ndim, "amin")
    _check_nonempty("amin", input.shape, dims)
    return Amin.apply(input, dims, keepdim)


def argmax(input, dim=None, keepdim=False):
    """Index (int64) of the first largest element: in the flattened input if ``dim`` is None (all
    dims size 1 with ``keepdim``), else along ``dim``. No gradient. Shape: (*) -> reduced."""
    if input._data.dtype == np.bool_:
        raise RuntimeError("argmax(): does not support bool input")
    return _arg_extremum("argmax", input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    """Index (int64) of the first smallest element; see ``argmax``."""
    if input._data.dtype == np.bool_:
        raise RuntimeError("argmin(): does not support bool input")
    return _arg_extremum("argmin", input, dim, keepdim, "argmin")


# ---- variance and standard deviation ------------------------------------------------------------

class Var(Function):
    """Variance over ``dims``: the sum of squared deviations from the mean over ``divisor``
    (N - correction). ``Std`` is its square root."""

    ROOT = False

    @staticmethod
    def forward(ctx, x, dims, divisor, keepdim):
        xp = array_module(x)
        ctx.dims, ctx.divisor, ctx.keepdim = dims, divisor, keepdim
        centered = x - x.mean(axis=dims, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):  # divisor 0 gives inf or NaN, as in PyTorch
            out = (centered * centered).sum(axis=dims, keepdims=keepdim) / divisor
        out = xp.asarray(xp.sqrt(out) if ctx.ROOT else out)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if ctx.ROOT:
            # d std = d var / (2 std), taken as 0 where std is 0 (a constant input), as in PyTorch
            grad = _zero_where_zero(out, lambda s: grad / (2 * s))
        # d var / dx = 2 (x - mean) / divisor
        scale = 2.0 / ctx.divisor if ctx.divisor else math.inf
        grad = restore_reduced(grad, x.shape, ctx.dims, ctx.keepdim)
        return grad * (x - x.mean(ctx.dims, keepdim=True)) * scale, None, None, None


class Std(Var):
    ROOT = True


def _moments_dims(op, input, dim, unbiased, correction):
    """The reduced dims and divisor (N - correction) of var/std, from either PyTorch signature:
    ``(dim, *, correction=1, keepdim)`` or the legacy ``(dim, unbiased, keepdim)`` and ``(unbiased)``."""
    if isinstance(dim, bool):  # var(x, False): the legacy unbiased flag in dim's place
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}(): pass either correction or the legacy unbiased, not both")
    if correction is None:
        correction = 1 if unbiased is None else int(unbiased)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}(): std and var only support floating point dtypes, got {input.dtype}")
    dims = reduction_dims(dim, input.ndim, op)
    divisor = _reduced_size(input.shape, dims) - correction
    if divisor <= 0:
        warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the "
                      f"reduction factor (input numel divided by output numel).", stacklevel=3)
    return dims, builtins.max(divisor, 0)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim`` (all dims if None), dividing by N - ``correction`` (default 1, Bessel's
    correction; ``unbiased=False`` is the legacy spelling of ``correction=0``). Shape: (*) -> reduced."""
    return Var.apply(input, *_moments_dims("var", input, dim, unbiased, correction), keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation, the square root of ``var`` (same arguments); its gradient is 0 where it is
    0. Shape: (*) -> reduced."""
    return Std.apply(input, *_moments_dims("std", input, dim, unbiased, correction), keepdim)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var, mean)`` over ``dim``, both differentiable; arguments as ``var``."""
    dims, divisor = _moments_dims("var_mean", input, dim, unbiased, correction)
    return Var.apply(input, dims, divisor, keepdim), mean(input, dims, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std, mean)`` over ``dim``, both differentiable; arguments as ``var``."""
    dims, divisor = _moments_dims("std_mean", input, dim, unbiased, correction)
    return Std.apply(input, dims, divisor, keepdim), mean(input, dims, keepdim)


# ---- logsumexp and norms ------------------------------------------------------------------------

class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = array_module(x)
        ctx.dims, ctx.keepdim = dims, keepdim
        # log sum exp(x) = m + log sum exp(x - m) with m the max, so exp cannot overflow; an infinite
        # max (a +inf, or a slice of -inf) is left out, letting the infinity through
        shift = x.max(axis=dims, keepdims=True) if x.size else xp.zeros(kept_shape(x.shape, dims), x.dtype)
        shift = xp.where(xp.isfinite(shift), shift, 0)
        with np.errstate(divide="ignore"):  # log(0) = -inf for a slice of -inf or an empty slice
            out = xp.log(xp.exp(x - shift).sum(axis=dims, keepdims=True)) + shift
        out = xp.asarray(out if keepdim else out.squeeze(axis=dims))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        # d logsumexp = softmax = exp(x - logsumexp)
        grad, out = (restore_reduced(t, x.shape, ctx.dims, ctx.keepdim) for t in (grad, out))
        return grad * (x - out).exp(), None, None


def logsumexp(input, dim, keepdim=False):
    """``log(sum(exp(input), dim))`` computed stably (no overflow for large inputs); integer inputs
    give the default float dtype. Shape: (*) -> reduced."""
    input = _floating(input)
    return LogSumExp.apply(input, reduction_dims(dim, input.ndim, "logsumexp"), keepdim)


class Norm(Function):
    """The vector p-norm over ``dims``; ``p`` is a float (inf and -inf included)."""

    @staticmethod
    def forward(ctx, x, p, dims, keepdim):
        xp = array_module(x)
        ctx.p, ctx.dims, ctx.keepdim = p, dims, keepdim
        magnitude = xp.abs(x)
        reduce = dict(axis=dims, keepdims=keepdim)
        if p == 0:
            out = (x != 0).sum(**reduce).astype(x.dtype)
        elif p == math.inf:
            out = magnitude.max(**reduce)
        elif p == -math.inf:
            out = magnitude.min(**reduce)
        elif p == 1:
            out = magnitude.sum(**reduce)
        elif p == 2:
            out = xp.sqrt((x * x).sum(**reduce))
        else:
            with np.errstate(divide="ignore"):  # p < 0 and a zero: |0|^p = inf, the norm is 0
                out = (magnitude ** p).sum(**reduce) ** (1 / p)
        out = xp.asarray(out)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        p, dims, keepdim = ctx.p, ctx.dims, ctx.keepdim
        if p == 0:
            return x * 0, None, None, None  # a count of nonzeros: piecewise constant
        if math.isinf(p):
            # the gradient of max |x| (min for -inf): sign(x), split evenly among ties
            return x.sign() * _evenly_distribute(grad, x.abs(), out, dims, keepdim), None, None, None
        grad, out = (restore_reduced(t, x.shape, dims, keepdim) for t in (grad, out))
        if p == 1:
            return grad * x.sign(), None, None, None
        if p == 2:
            # d |x|_2 = x / |x|_2, taken as 0 at x = 0 like PyTorch
            return grad * _zero_where_zero(out, lambda n: x / n), None, None, None
        # d |x|_p = sign(x) |x|^(p-1) |x|_p^(1-p); each power taken as 0 at 0 (PyTorch's convention)
        scale = x.sign() * _zero_where_zero(x.abs(), lambda a: a ** (p - 1)) * \
            _zero_where_zero(out, lambda n: n ** (1 - p))
        return grad * scale, None, None, None


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over ``dim`` (all elements if None), as ``torch.norm``: ``p`` a number
    (2, 1, 0: the count of nonzeros, inf: max |x|, -inf: min |x|, else (sum |x|^p)^(1/p)) or
    'fro' (the 2-norm, over at most 2 dims). ``dtype`` casts the input first. The gradient at a
    zero input is 0. Shape: (*) -> reduced."""
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"norm(): expected a floating point tensor as input, got {input.dtype}")
    if isinstance(p, str):
        if p == "nuc":
            raise NotImplementedError("norm(): the nuclear norm (p='nuc') is not implemented in ember")
        if p != "fro":
            raise RuntimeError(f"norm(): order {p!r} not supported; use a number or 'fro'")
        if dim is not None and not isinstance(dim, int) and len(dim) > 2:
            raise RuntimeError(f"norm(): the 'fro' norm takes at most 2 dims, got dim={tuple(dim)}")
        p = 2
    p = 2.0 if p is None else float(p)
    dims = reduction_dims(dim, input.ndim, "norm")
    if math.isinf(p) and _reduced_size(input.shape, dims) == 0:
        raise RuntimeError(f"norm(): cannot compute the {p} norm over an empty dim (input shape "
                           f"{tuple(input.shape)}): the operation has no identity")
    return Norm.apply(input, p, dims, keepdim)


# ---- scans --------------------------------------------------------------------------------------

def _cumsum(xp, x, dim, reverse):
    if reverse:
        return xp.flip(xp.cumsum(xp.flip(x, dim), axis=dim), dim)
    return xp.cumsum(x, axis=dim)


class Cumsum(Function):
    """Cumulative sum along ``dim``; from the last element back when ``reverse``."""

    @staticmethod
    def forward(ctx, x, dim, reverse):
        ctx.dim, ctx.reverse = dim, reverse
        return _cumsum(array_module(x), x, dim, reverse)

    @staticmethod
    def backward(ctx, grad):
        # out_i = sum_{j <= i} x_j, so dL/dx_j = sum_{i >= j} grad_i: the cumsum from the other end
        return Cumsum.apply(grad, ctx.dim, not ctx.reverse), None, None


def _cumprod_grad_at_zeros(xp, x, grad, dim):
    # Along dim, with z the first zero: d out_i / dx_k = prod_{j <= i, j != k} x_j. For k < z, the
    # terms i >= z vanish (they contain x_z = 0) and the rest is out_i / x_k; for k = z, it is
    # out'_i, the cumprod with x_z replaced by 1; for k > z, every term contains x_z.
    zero = x == 0
    seen = xp.cumsum(zero, axis=dim)
    first = zero & (seen == 1)
    before = seen == 0
    weighted = grad * xp.cumprod(xp.where(first, 1, x), axis=dim)
    from_k = _cumsum(xp, weighted, dim, reverse=True)
    from_z = (weighted * (seen > 0)).sum(axis=dim, keepdims=True)
    return xp.where(before, (from_k - from_z) / xp.where(before, x, 1), xp.where(first, from_z, 0))


class Cumprod(Function):
    @staticmethod
    def forward(ctx, x, dim):
        xp = array_module(x)
        ctx.dim = dim
        ctx.has_zeros = bool((x == 0).any())
        out = xp.cumprod(x, axis=dim)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if ctx.has_zeros:
            compute = functools.partial(_cumprod_grad_at_zeros, dim=ctx.dim)
            return GradientAtZeros.apply(x, grad, compute, op="cumprod"), None
        # out_i = prod_{j <= i} x_j, so dL/dx_j = sum_{i >= j} grad_i out_i / x_j when no x is zero
        return Cumsum.apply(grad * out, ctx.dim, True) / x, None


def _scan(function, op, input, dim, *args):
    dim = _single_dim(dim, input.ndim, op)
    if input.ndim == 0:  # a scan over the single element
        return function.apply(input.reshape(1), 0, *args).reshape(())
    return function.apply(input, dim, *args)


def cumsum(input, dim, *, dtype=None):
    """Cumulative sum along ``dim``; integer and bool inputs accumulate in int64 unless ``dtype``
    is given. Shape: (*) -> (*)."""
    return _scan(Cumsum, "cumsum", _accumulating(input, dtype), dim, False)


def cumprod(input, dim, *, dtype=None):
    """Cumulative product along ``dim``; integer and bool inputs accumulate in int64 unless
    ``dtype`` is given. Zeros in the input are handled in backward (once differentiable there).
    Shape: (*) -> (*)."""
    return _scan(Cumprod, "cumprod", _accumulating(input, dtype), dim)


# ---- logical reductions and counting ------------------------------------------------------------

def _logical_reduction(op, input, dim, keepdim):
    x = input._data
    xp = array_module(x)
    out = xp.asarray(getattr(xp, op)(x, axis=reduction_dims(dim, x.ndim, op), keepdims=keepdim))
    # uint8 inputs give uint8, every other dtype bool (PyTorch's rule)
    return Tensor(out.astype(xp.uint8) if x.dtype == xp.uint8 else out)


def all(input, dim=None, keepdim=False):
    """True where every element over ``dim`` (all dims if None) is nonzero; no gradient. Bool result
    (uint8 for uint8 inputs). Shape: (*) -> reduced."""
    return _logical_reduction("all", input, dim, keepdim)


def any(input, dim=None, keepdim=False):
    """True where some element over ``dim`` (all dims if None) is nonzero; see ``all``."""
    return _logical_reduction("any", input, dim, keepdim)


def count_nonzero(input, dim=None):
    """The number of nonzero elements over ``dim`` (int, tuple or None for all), int64; no
    gradient. Shape: (*) -> (*) without the counted dims."""
    x = input._data
    xp = array_module(x)
    counts = xp.count_nonzero(x, axis=reduction_dims(dim, x.ndim, "count_nonzero"))
    return Tensor(xp.asarray(counts).astype(xp.int64, copy=False))


for _name in ("sum", "mean", "sum_to_size", "prod", "max", "min", "amax", "amin", "argmax", "argmin",
              "var", "std", "logsumexp", "norm", "cumsum", "cumprod", "all", "any", "count_nonzero"):
    setattr(Tensor, _name, globals()[_name])
Tensor.cumsum_ = inplace_method(cumsum, "cumsum_")
Tensor.cumprod_ = inplace_method(cumprod, "cumprod_")
