"""Kernels of the softmax family: softmax, log_softmax (along any dim) and the fused cross entropy of
logits (N, C) against class indices (N,).

The NumPy references keep the input's float dtype (float16 included), so the engine also uses them
for the dtypes the C++ kernels do not take.
"""
import numpy as np

from .cpu_extension import kernel
from .registry import register


def _shifted(x, dim):
    """``x - max(x, dim)`` as a new array: exp of it cannot overflow. A slice that is all -inf (or
    holds +inf) gives NaN, as in PyTorch."""
    with np.errstate(invalid="ignore"):
        return x - x.max(axis=dim, keepdims=True, initial=-np.inf)


def softmax_forward(x, dim):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably. x: (*) float -> (*)."""
    y = _shifted(x, dim)
    np.exp(y, out=y)   # in place: one temporary instead of three
    y /= y.sum(axis=dim, keepdims=True)
    return y


def log_softmax_forward(x, dim):
    """``x - max - log(sum(exp(x - max)))`` along ``dim``. x: (*) float -> (*)."""
    y = _shifted(x, dim)
    y -= np.log(np.exp(y).sum(axis=dim, keepdims=True))
    return y


def softmax_backward(y, grad, dim):
    """The gradient of softmax from its output: ``y * (grad - sum(grad * y))`` along ``dim``.
    y, grad: (*) -> (*)."""
    return y * (grad - (grad * y).sum(axis=dim, keepdims=True))


def log_softmax_backward(y, grad, dim):
    """The gradient of log_softmax from its output: ``grad - exp(y) * sum(grad)`` along ``dim``.
    y, grad: (*) -> (*)."""
    return grad - np.exp(y) * grad.sum(axis=dim, keepdims=True)


def cross_entropy_forward(logits, target, ignore_index):
    """Per-row cross entropy ``logsumexp(logits[n]) - logits[n, target[n]]`` (0 where
    ``target[n] == ignore_index``) and ``softmax(logits)``, from which the backward makes the
    gradient. logits (N, C) float, target (N,) int64 in [0, C) or ignore_index
    -> (loss (N,), probabilities (N, C))."""
    shifted = _shifted(logits, 1)
    probabilities = np.exp(shifted)
    total = probabilities.sum(axis=1)
    probabilities /= total[:, None]
    kept = target != ignore_index
    picked = np.take_along_axis(shifted, np.where(kept, target, 0)[:, None], axis=1)[:, 0]
    loss = np.where(kept, np.log(total) - picked, 0).astype(logits.dtype, copy=False)
    return loss, probabilities


def cross_entropy_backward(probabilities, target, grad, ignore_index):
    """``(probabilities[n] - onehot(target[n])) * grad[n]``, zero where ``target[n] ==
    ignore_index``. probabilities (N, C) from the forward, target (N,) int64, grad (N,) or ()
    -> (N, C)."""
    kept = target != ignore_index
    row_grad = np.where(kept, np.broadcast_to(grad, kept.shape), 0).astype(probabilities.dtype)
    out = probabilities * row_grad[:, None]
    out[~kept] = 0  # even where a probability is NaN
    out[np.arange(len(target)), np.where(kept, target, 0)] -= row_grad
    return out


for _op, _reference in [("softmax_forward", softmax_forward), ("softmax_backward", softmax_backward),
                        ("log_softmax_forward", log_softmax_forward),
                        ("log_softmax_backward", log_softmax_backward),
                        ("cross_entropy_forward", cross_entropy_forward),
                        ("cross_entropy_backward", cross_entropy_backward)]:
    register(_op, "cpu", "cpp", kernel(_op))
    register(_op, "cpu", "numpy", lambda reference=_reference: reference)
