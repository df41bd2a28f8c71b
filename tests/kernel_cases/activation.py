import numpy as np

from kernel_check import KernelCase


def _shape(rng):
    if rng.random() < 0.3:
        return (int(rng.integers(200, 300)), int(rng.integers(130, 200)))  # the OpenMP path
    return tuple(int(s) for s in rng.integers(1, 9, size=rng.integers(1, 4)))


def _x(rng, shape, dtype):
    """Values across gelu's range, its tails (erf saturates past ~4), exact zeros (relu's kink) and
    NaN (which every activation must pass through, as PyTorch's do)."""
    x = rng.standard_normal(shape) * 3
    x.flat[::5] = 0
    x.flat[1::11] *= 10
    x.flat[3::23] = np.nan
    return x.astype(dtype)


def _unary(rng, dtype):
    return (_x(rng, _shape(rng), dtype),)


def _with_grad(rng, dtype):
    shape = _shape(rng)
    return rng.standard_normal(shape).astype(dtype), _x(rng, shape, dtype)


def _relu_backward(rng, dtype):
    grad, x = _with_grad(rng, dtype)
    return grad, np.maximum(x, 0)


CASES = [KernelCase("relu_forward", _unary), KernelCase("relu_backward", _relu_backward),
         KernelCase("gelu_forward", _unary), KernelCase("gelu_backward", _with_grad),
         KernelCase("gelu_tanh_forward", _unary), KernelCase("gelu_tanh_backward", _with_grad)]
