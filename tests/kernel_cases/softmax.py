import numpy as np

from kernel_check import KernelCase


def _shape_and_dim(rng, last):
    """2-4 dims of odd sizes (a dim of 1 included) and the dim to reduce: the last (rows) or another
    one (blocks of lines side by side). Sometimes big enough for the OpenMP path, or with more
    trailing elements than one block of lines (128)."""
    shape = tuple(int(s) for s in rng.integers(1, 9, size=rng.integers(2, 5)))
    draw = rng.random()
    if draw < 0.3:
        shape = shape[:-2] + (int(rng.integers(300, 1200)), int(rng.integers(30, 70)))
    elif draw < 0.6 and not last:
        shape = shape[:-1] + (int(rng.integers(129, 400)),)
    return shape, len(shape) - 1 if last else int(rng.integers(0, len(shape) - 1))


def _softmax_input(rng, dtype, shape):
    x = rng.standard_normal(shape) * 4
    if x.size > 2 and rng.random() < 0.5:
        x.flat[rng.integers(0, x.size)] = -np.inf  # a class that can never win: exp gives exactly 0
    return x.astype(dtype)


def _forward(rng, dtype, last):
    shape, dim = _shape_and_dim(rng, last)
    return _softmax_input(rng, dtype, shape), dim


def _probabilities_and_grad(rng, dtype, log, last):
    shape, dim = _shape_and_dim(rng, last)
    x = rng.standard_normal(shape) * 3
    y = x - np.log(np.exp(x).sum(axis=dim, keepdims=True))
    y = y if log else np.exp(y)
    return y.astype(dtype), rng.standard_normal(shape).astype(dtype), dim


def _cross_entropy_inputs(rng, dtype):
    n = int(rng.integers(1, 40)) if rng.random() < 0.7 else int(rng.integers(200, 300))
    c = int(rng.integers(1, 12)) if rng.random() < 0.5 else int(rng.integers(500, 1100))
    logits = _softmax_input(rng, dtype, (n, c))
    target = rng.integers(0, c, n)
    ignore_index = -100 if rng.random() < 0.5 else int(rng.integers(0, c))
    target[rng.random(n) < 0.2] = ignore_index
    return logits, target, ignore_index


def _cross_entropy_backward(rng, dtype):
    logits, target, ignore_index = _cross_entropy_inputs(rng, dtype)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    grad = rng.standard_normal(len(target)).astype(dtype) if rng.random() < 0.5 else \
        np.array(rng.random(), dtype)  # one gradient for every row ('mean', 'sum')
    return probabilities.astype(dtype), target, grad, ignore_index


CASES = [case for last, layout in [(True, "last-dim"), (False, "other-dim")] for case in [
    KernelCase("softmax_forward", lambda rng, dtype, last=last: _forward(rng, dtype, last), layout),
    KernelCase("log_softmax_forward", lambda rng, dtype, last=last: _forward(rng, dtype, last), layout),
    KernelCase("softmax_backward",
               lambda rng, dtype, last=last: _probabilities_and_grad(rng, dtype, False, last), layout),
    KernelCase("log_softmax_backward",
               lambda rng, dtype, last=last: _probabilities_and_grad(rng, dtype, True, last), layout),
]] + [
    KernelCase("cross_entropy_forward", _cross_entropy_inputs),
    KernelCase("cross_entropy_backward", _cross_entropy_backward),
]
