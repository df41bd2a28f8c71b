"""Reductions over every element: odd sizes, a 0-d array, an empty one, and arrays big enough
for many blocks on a GPU."""
import numpy as np

from kernel_check import KernelCase


def _sum_of_squares(rng, dtype):
    draw = rng.random()
    if draw < 0.2:
        shape = ()
    elif draw < 0.3:
        shape = (int(rng.integers(0, 4)), 0)
    elif draw < 0.6:
        shape = ((1 << 16) + int(rng.integers(1, 99)),)
    else:
        shape = tuple(int(s) for s in rng.integers(1, 40, size=rng.integers(1, 4)))
    return (np.asarray(rng.standard_normal(shape) * 3, dtype),)  # an array even when 0-d, as the op takes


CASES = [KernelCase("sum_of_squares", _sum_of_squares)]
