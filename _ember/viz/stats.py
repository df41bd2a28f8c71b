"""Summary statistics of one tensor, computed in float64 on its own device, without recording."""
from typing import NamedTuple

from ..engine.device import array_module


class Stats(NamedTuple):
    """What ``watch`` keeps per layer and step. ``zero_fraction``: the share of exact zeros (dead
    ReLUs); ``norm``: the L2 norm of all elements."""
    mean: float
    std: float
    abs_mean: float
    min: float
    max: float
    norm: float
    zero_fraction: float


def array_norm(array):
    """L2 norm of every element of a raw (NumPy or CuPy) array, as a Python float."""
    xp = array_module(array)
    return float(xp.sqrt(xp.square(array.astype(xp.float64)).sum()))


def tensor_stats(tensor):
    """``Stats`` of a Tensor's values (population std, as ``numpy.std``); NaN fields when empty."""
    array = tensor._data
    if array.size == 0:
        nan = float("nan")
        return Stats(nan, nan, nan, nan, nan, 0.0, nan)
    xp = array_module(array)
    values = array.astype(xp.float64)
    return Stats(mean=float(values.mean()), std=float(values.std()), abs_mean=float(xp.abs(values).mean()),
                 min=float(values.min()), max=float(values.max()), norm=array_norm(values),
                 zero_fraction=float((values == 0).mean()))
