"""CuPy glue for the softmax family's CUDA kernels (kernels/cuda/softmax.cu): softmax and
log_softmax along any dim, forward and backward, and the fused cross entropy. The signatures,
shapes and dtypes are those of the NumPy references in kernels/softmax.py, on cupy arrays.

A dim that is the last one makes contiguous rows, each reduced by one block; another dim makes
lines ``inner`` elements apart, each reduced by one thread, so that neighbouring threads read
neighbouring lines.
"""
import math

import numpy as np

from ..registry import register
from . import runtime

_KERNELS = ("softmax_forward_rows", "softmax_forward_lines", "softmax_backward_rows", "softmax_backward_lines",
            "cross_entropy_forward", "cross_entropy_backward")
_INSTANTIATIONS = runtime.instantiations(*_KERNELS)


def _kernel(name, dtype):
    return runtime.kernel("softmax", _INSTANTIATIONS, name, dtype)


def _row_threads(length):
    """Threads for a block that reduces a row of ``length``: whole warps, no more than the row needs
    (rows of ten classes are common), at most ``runtime.BLOCK``."""
    return (min(runtime.BLOCK, max(32, -(-length // 32) * 32)),)


def _lines(shape, dim):
    """(outer, length, inner) of an array of ``shape`` reduced along ``dim`` (negative counts from
    the end)."""
    if not -len(shape) <= dim < len(shape):
        raise IndexError(f"dim {dim} is out of range for a {len(shape)}-D array")
    dim %= len(shape)
    return math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1:])


def _along_dim(direction, inputs, dim, log_softmax):
    """out = the ``softmax_<direction>`` kernel applied along ``dim`` of ``inputs`` (x, or y and
    grad, all of one shape)."""
    cp = runtime.cupy()
    dtype = inputs[0].dtype
    inputs = [cp.ascontiguousarray(array, dtype=dtype) for array in inputs]
    if any(array.shape != inputs[0].shape for array in inputs):
        raise ValueError(f"softmax_{direction}: y and grad must have one shape, got "
                         f"{[array.shape for array in inputs]}")
    outer, length, inner = _lines(inputs[0].shape, dim)
    out = cp.empty_like(inputs[0])
    if out.size == 0:
        return out
    flag = np.int32(log_softmax)
    if inner == 1:
        _kernel(f"softmax_{direction}_rows", dtype)((outer,), _row_threads(length), (*inputs, out, length, flag))
    else:
        _kernel(f"softmax_{direction}_lines", dtype)(runtime.blocks(outer * inner), (runtime.BLOCK,),
                                                     (*inputs, out, outer, length, inner, flag))
    return out


def softmax_forward(x, dim):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably. x: (*) float -> (*)."""
    return _along_dim("forward", [x], dim, False)


def log_softmax_forward(x, dim):
    """``x - max - log(sum(exp(x - max)))`` along ``dim``. x: (*) float -> (*)."""
    return _along_dim("forward", [x], dim, True)


def softmax_backward(y, grad, dim):
    """``y * (grad - sum(grad * y))`` along ``dim``, y the forward's output. y, grad: (*) -> (*)."""
    return _along_dim("backward", [y, grad], dim, False)


def log_softmax_backward(y, grad, dim):
    """``grad - exp(y) * sum(grad)`` along ``dim``, y the forward's output. y, grad: (*) -> (*)."""
    return _along_dim("backward", [y, grad], dim, True)


def cross_entropy_forward(logits, target, ignore_index):
    """Per-row cross entropy ``logsumexp(logits[n]) - logits[n, target[n]]`` (0 where
    ``target[n] == ignore_index``) and ``softmax(logits)``. logits (N, C) float, target (N,) int
    in [0, C) or ignore_index -> (loss (N,), probabilities (N, C))."""
    cp = runtime.cupy()
    kernel = _kernel("cross_entropy_forward", logits.dtype)
    logits = cp.ascontiguousarray(logits)
    target = cp.ascontiguousarray(target, dtype=cp.int64)
    rows, classes = logits.shape
    loss, probabilities = cp.empty(rows, logits.dtype), cp.empty_like(logits)
    if rows:
        kernel((rows,), _row_threads(classes), (logits, target, loss, probabilities, classes, int(ignore_index)))
    return loss, probabilities


def cross_entropy_backward(probabilities, target, grad, ignore_index):
    """``(probabilities[n] - onehot(target[n])) * grad[n]``, zero where ``target[n] ==
    ignore_index``. probabilities (N, C) from the forward, target (N,) int, grad (N,) or ()
    -> (N, C)."""
    cp = runtime.cupy()
    kernel = _kernel("cross_entropy_backward", probabilities.dtype)
    probabilities = cp.ascontiguousarray(probabilities)
    target = cp.ascontiguousarray(target, dtype=cp.int64)
    rows, classes = probabilities.shape
    grad = cp.ascontiguousarray(cp.asarray(grad, dtype=probabilities.dtype).reshape(-1))
    if grad.size not in (1, rows):
        raise ValueError(f"cross_entropy_backward: expected grad of shape ({rows},) or (), got {grad.size} values")
    out = cp.empty_like(probabilities)
    if rows:
        kernel((rows,), _row_threads(classes),
               (probabilities, target, grad, 0 if grad.size == 1 else 1, out, classes, int(ignore_index)))
    return out


for _op, _function in [("softmax_forward", softmax_forward), ("softmax_backward", softmax_backward),
                       ("log_softmax_forward", log_softmax_forward), ("log_softmax_backward", log_softmax_backward),
                       ("cross_entropy_forward", cross_entropy_forward),
                       ("cross_entropy_backward", cross_entropy_backward)]:
    register(_op, "cuda", "cupy", runtime.loader(_function))
