"""Building blocks of networks: softmax and log_softmax, linear, dropout, embedding, normalize.

Forwards compute on raw arrays; backwards are Tensor ops, so they are differentiable again. Where
a backward needs a product or a row scatter, it uses a small private Function of this file whose
own backward closes the loop (linear's backward is two more linears; embedding's row scatter and
row gather are each other's gradient). Softmax and log_softmax run on the kernels of
``kernels/softmax.py``, their backwards too unless the backward itself is being recorded.
"""
import math

import numpy as np

from ... import kernels
from ..cuda_graphs import is_current_stream_capturing
from ..device import array_module
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..random import random_source
from ..tensor import Tensor, _wrap_dim
from .elementwise import clamp, mul, where
from .inplace import inplace_update
from .operands import broadcast_error, check_same_device

__all__ = ["softmax", "log_softmax", "softmin", "linear", "dropout", "embedding", "normalize",
           "cosine_similarity"]


# ---- softmax -------------------------------------------------------------------------------------

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def kernel_for(op, x):
    """The kernel serving ``op`` for the array ``x``: the registry's choice for float32 and float64;
    for other float dtypes the NumPy reference, which computes in x's own precision."""
    if x.dtype in _KERNEL_DTYPES:
        return kernels.dispatch(op, x)
    return kernels.implementation(op, "cpu", "numpy")


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = kernel_for("softmax_forward", x)(x, dim)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, = ctx.saved_tensors
        if is_grad_enabled():  # create_graph: Tensor ops, so this gradient is differentiable too
            return y * (grad - (grad * y).sum(ctx.dim, keepdim=True)), None
        return Tensor(kernel_for("softmax_backward", y._data)(y._data, grad._data, ctx.dim)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = kernel_for("log_softmax_forward", x)(x, dim)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, = ctx.saved_tensors
        if is_grad_enabled():  # d log_softmax: g - softmax * sum(g), softmax = exp(y)
            return grad - y.exp() * grad.sum(ctx.dim, keepdim=True), None
        return Tensor(kernel_for("log_softmax_backward", y._data)(y._data, grad._data, ctx.dim)), None


def _softmax_like(function, name, input, dim, dtype):
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"{name}: not implemented for input of dtype {input.dtype} (shape "
                                  f"{tuple(input.shape)}); pass dtype= a floating point type")
    dim = _wrap_dim(dim, input.ndim, name)
    if input.ndim == 0:  # the kernels reduce along a dim: give the scalar one
        return function.apply(input.reshape(1), 0).reshape(())
    return function.apply(input, dim)


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
        ctx.vector_bias = bias is not None and bias.ndim == 1
        if x.ndim > 2 and weight.ndim == 2:
            # one 2-D GEMM over all leading dims is 2-3x faster in NumPy than a batched matmul
            out = kernels.matmul(x.reshape(-1, x.shape[-1]), weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
        else:
            out = kernels.matmul(x, weight.T)
        if bias is None:
            return out
        if bias.dtype == out.dtype:  # the product is a fresh array: add in place, saving a pass
            out += bias
            return out
        return out + bias

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        if not is_grad_enabled():
            return _linear_gradients(x._data, weight._data, grad._data, ctx.needs_input_grad, ctx.vector_bias)
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


def _linear_gradients(x, weight, grad, needs, vector_bias):
    """Linear's three gradients on raw arrays, one GEMM or sum each, for a backward that nothing
    records: x (*, in), weight (out, in), grad (*, out). A bias of another shape than (out,) gets
    grad itself, which the engine sums to the bias's shape."""
    rows_grad = grad.reshape(-1, grad.shape[-1])
    grad_x = Tensor(kernels.matmul(rows_grad, weight).reshape(x.shape)) if needs[0] else None
    grad_weight = Tensor(kernels.matmul(rows_grad.T, x.reshape(-1, x.shape[-1]))) if needs[1] else None
    grad_bias = None if not needs[2] else Tensor(rows_grad.sum(0)) if vector_bias else Tensor(grad)
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
    keep = random_source(device=input.device).random(input.shape) >= p  # kept with probability 1 - p
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    mask = Tensor(keep.astype(input._data.dtype) * input._data.dtype.type(scale))
    if inplace:
        return inplace_update(input, mul, mask, op_name="dropout_")
    return mul(input, mask)


# ---- embedding -----------------------------------------------------------------------------------

def _broadcast_rows(row_values, ndim):
    """A per-row vector shaped to multiply a (rows, ...) array."""
    return row_values.reshape((-1,) + (1,) * (ndim - 1))


class GatherRows(Function):
    """``weight[indices]``: rows picked by an index array of any shape. Its gradient scatters the
    rows back, skipping index ``padding_idx`` (None: none) and scaling row r by ``row_scale[r]``
    (None: 1), which is how embedding's gradient skips its padding row and divides by frequency."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx, row_scale):
        ctx.indices, ctx.rows, ctx.padding_idx, ctx.row_scale = indices, len(weight), padding_idx, row_scale
        return array_module(weight).take(weight, indices, axis=0)  # 1.5-2.5x faster than weight[indices]

    @staticmethod
    def backward(ctx, grad):
        grad_weight = ScatterRows.apply(grad, ctx.indices, ctx.rows, ctx.padding_idx, ctx.row_scale)
        return grad_weight, None, None, None


class ScatterRows(Function):
    """Add each row of ``values`` into row ``indices[...]`` (int64) of a zero matrix (repeated
    indices accumulate), except those at index ``padding_idx`` (None: none), then scale row r by
    ``row_scale[r]`` (None: 1)."""

    @staticmethod
    def forward(ctx, values, indices, rows, padding_idx, row_scale):
        ctx.indices, ctx.padding_idx, ctx.row_scale = indices, padding_idx, row_scale
        row_shape = values.shape[indices.ndim:]
        out = kernel_for("embedding_backward", values)(
            values.reshape(indices.size, math.prod(row_shape)), indices.reshape(-1), rows,
            -1 if padding_idx is None else padding_idx).reshape((rows,) + row_shape)
        if row_scale is not None:
            out *= _broadcast_rows(row_scale, out.ndim)
        return out

    @staticmethod
    def backward(ctx, grad):
        # the adjoint of "scatter all but the padding row, then scale rows" is "scale rows, with the
        # padding row's scale 0, then gather"
        scale = ctx.row_scale
        if ctx.padding_idx is not None:
            xp = array_module(grad._data)
            scale = xp.ones(grad.shape[0], grad._data.dtype) if scale is None else scale.copy()
            scale[ctx.padding_idx] = 0
        if scale is not None:
            grad = grad * Tensor(_broadcast_rows(scale, grad.ndim))
        return GatherRows.apply(grad, ctx.indices, None, None), None, None, None, None


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
    check_same_device("embedding", weight, input)
    rows = weight.shape[0]
    indices = input._data
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise AssertionError(f"embedding: Padding_idx must be within num_embeddings (padding_idx "
                                 f"{padding_idx}, num_embeddings {rows})")
        padding_idx %= rows
    if is_current_stream_capturing():  # the range check below reads the indices on the host, which a capture cannot
        return _embedding_in_capture(weight, indices, padding_idx, max_norm, scale_grad_by_freq, shapes)
    if indices.size and (indices.min() < 0 or indices.max() >= rows):
        bad = indices[(indices < 0) | (indices >= rows)].ravel()[0]
        raise IndexError(f"embedding: index out of range in self (index {int(bad)} with "
                         f"num_embeddings {rows}) {shapes}")
    if max_norm is not None:
        _renorm_rows(weight, indices, max_norm, norm_type)
    row_scale = None
    if scale_grad_by_freq:
        xp = array_module(weight._data)
        row_scale = xp.ones(rows, dtype=weight._data.dtype)
        row_scale /= xp.maximum(xp.bincount(indices.ravel(), minlength=rows), 1)
    return GatherRows.apply(weight, indices.astype(np.int64, copy=False), padding_idx, row_scale)


def _embedding_in_capture(weight, indices, padding_idx, max_norm, scale_grad_by_freq, shapes):
    """``embedding`` inside a CUDA-graph capture: an index out of range gives a row of NaN rather than an
    error; max_norm and scale_grad_by_freq, which need data-dependent shapes, are refused."""
    if max_norm is not None or scale_grad_by_freq:
        raise RuntimeError(f"embedding: max_norm and scale_grad_by_freq cannot be captured in a CUDA graph {shapes}")
    rows = weight.shape[0]
    xp = array_module(indices)
    valid = (indices >= 0) & (indices < rows)
    looked_up = GatherRows.apply(weight, xp.where(valid, indices, 0).astype(np.int64), padding_idx, None)
    return where(Tensor(valid[..., None]), looked_up, float("nan"))


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
