"""Building blocks of networks: softmax and log_softmax, linear, dropout, embedding, normalize.

Forwards compute on raw arrays; backwards are Tensor ops, so they are differentiable again. Where
a backward needs a product or a row scatter, it uses a small private Function of this file whose
own backward closes the loop (linear's backward is two more linears; embedding's row scatter and
row gather are each other's gradient).
"""
import math

import numpy as np

from ..device import array_module
from ..function import Function
from ..random import generator_numpy
from ..tensor import Tensor, _wrap_dim
from .elementwise import clamp, mul, where
from .inplace import inplace_update
from .operands import broadcast_error

__all__ = ["softmax", "log_softmax", "softmin", "linear", "dropout", "embedding", "normalize",
           "cosine_similarity"]


# ---- softmax -------------------------------------------------------------------------------------

def _shifted(x, dim):
    """``x - max(x, dim)`` as a new array (which callers may overwrite): exp of it cannot overflow.
    ``initial`` lets empty dims through; a slice that is all -inf (or holds +inf) gives NaN, as in
    PyTorch."""
    with np.errstate(invalid="ignore"):
        return array_module(x).asarray(x - x.max(axis=dim, keepdims=True, initial=-np.inf))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = _shifted(x, dim)
        array_module(x).exp(y, out=y)   # in place: one temporary instead of three
        y /= y.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, = ctx.saved_tensors
        # d softmax: y * (g - sum(g * y))
        return y * (grad - (grad * y).sum(ctx.dim, keepdim=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        xp = array_module(x)
        y = _shifted(x, dim)
        y -= xp.log(xp.exp(y).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, = ctx.saved_tensors
        # d log_softmax: g - softmax * sum(g), softmax = exp(y)
        return grad - y.exp() * grad.sum(ctx.dim, keepdim=True), None


def _softmax_like(function, name, input, dim, dtype):
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"{name}: not implemented for input of dtype {input.dtype} (shape "
                                  f"{tuple(input.shape)}); pass dtype= a floating point type")
    dim = _wrap_dim(dim, input.ndim, name)
    return function.apply(input, dim if input.ndim else None)


def softmax(input, dim, dtype=None):
    """``exp(input) / sum(exp(input))`` along ``dim`` (computed stably); ``dtype`` casts the input
    first. Shape: (*) -> (*)."""
    return _softmax_like(Softmax, "softmax", input, dim, dtype)


def log_softmax(input, dim, dtype=None):
    """``log(softmax(input, dim))``, computed as ``x - max - log(sum(exp(x - max)))`` so it stays
    finite. Shape: (*) -> (*)."""
    return _softmax_like(LogSoftmax, "log_softmax", input, dim, dtype)


def softmin(input, dim, dtype=None):
    """``softmax(-input, dim)``. Shape: (*) -> (*)."""
    if dtype is not None:
        input = input.to(dtype)
    return softmax(-input, dim)


# ---- linear --------------------------------------------------------------------------------------

class Transpose(Function):
    """A matrix's transpose (a view on arrays): its own gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.T

    @staticmethod
    def backward(ctx, grad):
        return Transpose.apply(grad)


class Linear(Function):
    """``x @ weight^T + bias`` over the last dim of x; its gradients are linears again."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        xp = array_module(x)
        if x.ndim > 2 and weight.ndim == 2:
            # one 2-D GEMM over all leading dims is 2-3x faster in NumPy than a batched matmul
            out = xp.matmul(x.reshape(-1, x.shape[-1]), weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
        else:
            out = xp.matmul(x, weight.T)
        return out if bias is None else out + bias

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            # grad @ W == linear(grad, W^T)
            grad_x = Linear.apply(grad, Transpose.apply(weight), None)
        if ctx.needs_input_grad[1]:
            # sum over batch rows of grad^T x == linear(grad^T, x^T) on the flattened batch
            rows = math.prod(x.shape[:-1])
            grad_weight = Linear.apply(Transpose.apply(grad.reshape(rows, grad.shape[-1])),
                                        Transpose.apply(x.reshape(rows, x.shape[-1])), None)
        grad_bias = grad if ctx.needs_input_grad[2] else None  # the engine sums it to bias's shape
        return grad_x, grad_weight, grad_bias


def linear(input, weight, bias=None):
    """``input @ weight^T + bias``. Shapes: input (*, in_features), weight (out_features,
    in_features), bias (out_features,) or None -> (*, out_features); a weight of shape
    (in_features,) gives (*)."""
    shapes = f"(input {tuple(input.shape)}, weight {tuple(weight.shape)}" + \
             (f", bias {tuple(bias.shape)})" if bias is not None else ")")
    if input.ndim == 0 or weight.ndim == 0:
        raise RuntimeError(f"linear: both arguments to linear need to be at least 1D, but they are "
                           f"{input.ndim}D and {weight.ndim}D {shapes}")
    if weight.ndim > 2:
        raise RuntimeError(f"linear: weight must be 1-D or 2-D, got {weight.ndim}-D {shapes}")
    if weight.ndim == 1:
        return linear(input, weight.reshape(1, -1), bias).reshape(input.shape[:-1])
    if input.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"linear: mat1 and mat2 shapes cannot be multiplied "
                           f"({math.prod(input.shape[:-1])}x{input.shape[-1]} and "
                           f"{weight.shape[1]}x{weight.shape[0]}) {shapes}")
    for name, other in (("weight", weight), ("bias", bias)):
        if other is not None and other.dtype != input.dtype:
            raise RuntimeError(f"linear: expected input and {name} to have the same dtype, but got "
                               f"{input.dtype} and {other.dtype} {shapes}")
    if bias is not None:
        out_shape = tuple(input.shape[:-1]) + (weight.shape[0],)
        try:
            fits = np.broadcast_shapes(out_shape, tuple(bias.shape)) == out_shape
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"linear: bias does not broadcast to the output shape {out_shape} {shapes}")
    return Linear.apply(input, weight, bias)


# ---- dropout -------------------------------------------------------------------------------------

def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the others by ``1 / (1 - p)``, so the
    expectation is unchanged; the identity (``input`` itself) when not ``training`` or ``p == 0``.
    The mask comes from ember's seeded generator (``ember.manual_seed``). Shape: (*) -> (*)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0 or input.numel() == 0:
        return input
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"dropout: expected a floating point input, got {input.dtype} "
                           f"(shape {tuple(input.shape)})")
    keep = generator_numpy().random(input.shape) >= p  # kept with probability 1 - p
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    mask = Tensor(array_module(input._data).asarray(keep.astype(input._data.dtype) * scale))
    if inplace:
        return inplace_update(input, mul, mask, op_name="dropout_")
    return mul(input, mask)


# ---- embedding -----------------------------------------------------------------------------------

def _broadcast_rows(row_values, ndim):
    """A per-row vector shaped to multiply a (rows, ...) array."""
    return row_values.reshape((-1,) + (1,) * (ndim - 1))


class GatherRows(Function):
    """``weight[indices]``: rows picked by an index array of any shape. Its gradient scatters the
    rows back, scaled per row by ``row_scale`` (None: 1), which is how embedding's gradient skips
    padding_idx and divides by frequency."""

    @staticmethod
    def forward(ctx, weight, indices, row_scale):
        ctx.indices, ctx.rows, ctx.row_scale = indices, weight.shape[0], row_scale
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        return ScatterRows.apply(grad, ctx.indices, ctx.rows, ctx.row_scale), None, None


class ScatterRows(Function):
    """Add each row of ``values`` into row ``indices[...]`` of a zero matrix (repeated indices
    accumulate), then scale row r by ``row_scale[r]``."""

    @staticmethod
    def forward(ctx, values, indices, rows, row_scale):
        ctx.indices, ctx.row_scale = indices, row_scale
        xp = array_module(values)
        out = xp.zeros((rows,) + values.shape[indices.ndim:], dtype=values.dtype)
        xp.add.at(out, indices, values)
        if row_scale is not None:
            out *= _broadcast_rows(row_scale, out.ndim)
        return out

    @staticmethod
    def backward(ctx, grad):
        # the adjoint of "scatter, then scale rows" is "scale rows, then gather"
        if ctx.row_scale is not None:
            grad = grad * Tensor(_broadcast_rows(ctx.row_scale, grad.ndim))
        return GatherRows.apply(grad, ctx.indices, None), None, None, None


def _renorm_rows(weight, indices, max_norm, norm_type):
    """Scale, in place, the rows of ``weight`` that ``indices`` use and whose norm exceeds
    ``max_norm`` down to ``max_norm`` (PyTorch's embedding_renorm_, outside autograd)."""
    data = weight._data
    xp = array_module(data)
    rows = xp.unique(indices)
    norms = (xp.abs(data[rows].astype(np.float64)) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    too_long = norms > max_norm
    if too_long.any():
        data[rows[too_long]] *= (max_norm / (norms[too_long] + 1e-7))[:, None]
        weight._version[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Look up rows of ``weight`` by index: ``weight[input]``. Gradients of repeated indices add
    up; row ``padding_idx`` gets none; ``scale_grad_by_freq`` divides each row's gradient by how
    often it occurs in ``input``; ``max_norm`` first renormalises (in place) the rows used whose
    ``norm_type``-norm exceeds it. Shapes: input (*) integer, weight (num_embeddings,
    embedding_dim) -> (*, embedding_dim)."""
    shapes = f"(input {tuple(input.shape)}, weight {tuple(weight.shape)})"
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D {shapes}")
    if input._data.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"embedding: Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got {input.dtype} instead {shapes}")
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported by ember (sparse=True)")
    rows = weight.shape[0]
    indices = input._data
    if indices.size and (indices.min() < 0 or indices.max() >= rows):
        bad = indices[(indices < 0) | (indices >= rows)].ravel()[0]
        raise IndexError(f"embedding: index out of range in self (index {int(bad)} with "
                         f"num_embeddings {rows}) {shapes}")
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise AssertionError(f"embedding: Padding_idx must be within num_embeddings (padding_idx "
                                 f"{padding_idx}, num_embeddings {rows})")
        padding_idx %= rows
    if max_norm is not None:
        _renorm_rows(weight, indices, max_norm, norm_type)
    row_scale = None
    if padding_idx is not None or scale_grad_by_freq:
        xp = array_module(weight._data)
        row_scale = xp.ones(rows, dtype=weight._data.dtype)
        if scale_grad_by_freq:
            row_scale /= xp.maximum(xp.bincount(indices.ravel(), minlength=rows), 1)
        if padding_idx is not None:
            row_scale[padding_idx] = 0
    return GatherRows.apply(weight, indices, row_scale)


# ---- normalize, cosine_similarity ----------------------------------------------------------------

class VectorNorm(Function):
    """``(sum |x|^p)^(1/p)`` over ``dim``, keeping it; the gradient of a zero vector is 0."""

    @staticmethod
    def forward(ctx, x, p, dim):
        ctx.p = p
        xp = array_module(x)
        y = (xp.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        # d norm / dx = sign(x) (|x| / norm)^(p-1); a zero norm only comes from a zero vector
        safe = where(y == 0, 1.0, y)
        return grad * x.sign() * (x.abs() / safe) ** (ctx.p - 1), None, None


def _norm(op, input, p, dim):
    if not (p > 0 and math.isfinite(p)):
        raise NotImplementedError(f"{op}: ember supports finite p > 0, got p={p}")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    return VectorNorm.apply(input, float(p), dim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` with the norm taken along ``dim``. Shape: (*) -> (*)."""
    dim = _wrap_dim(dim, input.ndim, "normalize")
    result = input / clamp(_norm("normalize", input, p, dim), min=eps)
    return result if out is None else out.copy_(result)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum(x1 * x2) / (max(||x1||, eps) max(||x2||, eps))`` along ``dim``, each vector divided
    by its norm first (so the result stays in [-1, 1]). Shapes: x1, x2 broadcast to (*) -> (*)
    without ``dim``."""
    try:
        shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise broadcast_error("cosine_similarity", x1.shape, x2.shape) from None
    dim = _wrap_dim(dim, len(shape), "cosine_similarity")
    x1, x2 = x1.expand(shape), x2.expand(shape)
    unit1 = x1 / clamp(_norm("cosine_similarity", x1, 2.0, dim), min=eps)
    unit2 = x2 / clamp(_norm("cosine_similarity", x2, 2.0, dim), min=eps)
    return (unit1 * unit2).sum(dim)


Tensor.softmax = softmax
Tensor.log_softmax = log_softmax
