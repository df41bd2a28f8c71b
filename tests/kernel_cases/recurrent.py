import numpy as np

from kernel_check import KernelCase


def _sizes(rng):
    """(N, H): odd sizes, batch 1, and sometimes a step big enough for the OpenMP path."""
    if rng.random() < 0.25:
        return int(rng.integers(64, 80)), int(rng.integers(256, 300))
    return int(rng.choice([1, int(rng.integers(2, 9))])), int(rng.integers(1, 40))


def _pre_activations(rng, shape, dtype):
    """Gate pre-activations, some far into the saturated tails (where exp overflows)."""
    x = rng.standard_normal(shape) * 3
    x.flat[::7] *= 40
    return x.astype(dtype)


def _activations(rng, shape, dtype):
    return (1 / (1 + np.exp(-rng.standard_normal(shape) * 2))).astype(dtype)


def _lstm_forward(rng, dtype):
    n, h = _sizes(rng)
    return _pre_activations(rng, (n, 4 * h), dtype), rng.standard_normal((n, h)).astype(dtype)


def _lstm_backward(rng, dtype):
    n, h = _sizes(rng)
    acts = _activations(rng, (n, 4 * h), dtype)
    acts[:, 2 * h:3 * h] = acts[:, 2 * h:3 * h] * 2 - 1  # the cell gate is a tanh
    return (rng.standard_normal((n, h)).astype(dtype), rng.standard_normal((n, h)).astype(dtype), acts,
            np.tanh(rng.standard_normal((n, h))).astype(dtype), rng.standard_normal((n, h)).astype(dtype))


def _gru_forward(rng, dtype):
    n, h = _sizes(rng)
    return (_pre_activations(rng, (n, 3 * h), dtype), _pre_activations(rng, (n, 3 * h), dtype),
            rng.standard_normal((n, h)).astype(dtype))


def _gru_backward(rng, dtype):
    n, h = _sizes(rng)
    acts = _activations(rng, (n, 3 * h), dtype)
    acts[:, 2 * h:] = acts[:, 2 * h:] * 2 - 1  # n is a tanh
    return (rng.standard_normal((n, h)).astype(dtype), acts, rng.standard_normal((n, 3 * h)).astype(dtype),
            rng.standard_normal((n, h)).astype(dtype))


CASES = [KernelCase("lstm_cell_forward", _lstm_forward), KernelCase("lstm_cell_backward", _lstm_backward),
         KernelCase("gru_cell_forward", _gru_forward), KernelCase("gru_cell_backward", _gru_backward)]
