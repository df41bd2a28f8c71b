"""Making tensors: from data (``tensor``, ``as_tensor``, ``from_numpy``, ``from_dlpack``), filled
(``zeros``, ``ones``, ``full``, ``empty``, ``eye``), ranges (``arange``, ``linspace``) and random
(``rand``, ``randn``, ``randint``, ``randperm``, ``*_like``)."""
import numbers

import numpy as np

from . import dtypes
from .device import CPU, backend_for, device as Device
from .random import generator_numpy, random_source
from .tensor import Tensor

__all__ = ["tensor", "as_tensor", "asarray", "from_numpy", "from_dlpack", "zeros", "ones", "full",
           "empty", "eye", "arange", "linspace", "logspace", "rand", "randn", "randint", "randperm",
           "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
           "randint_like", "scalar_tensor", "normal", "bernoulli"]


def _finish(array, dtype, device, requires_grad):
    """Cast, move to ``device`` and wrap an array (built on the host, or already on ``device``)."""
    if dtype is not None:
        target = dtypes.to_dtype(dtype).numpy
        if array.dtype != target:
            array = array.astype(target)
    else:
        dtypes.from_numpy(array.dtype)  # refuse types ember does not hold
    if device is not None and Device(device) != CPU:
        dev = Device(device)
        array = backend_for(dev).to_device(array, dev)
    return Tensor(array, requires_grad=requires_grad)


def _infer_array(data, keep_float64=False):
    """NumPy array of nested Python data with PyTorch's inference: floats -> default float dtype,
    ints -> int64, bools -> bool. ``keep_float64``: a dtype was asked for, so Python floats stay
    double until cast to it (0.8 as float64 must not pass through float32)."""
    if isinstance(data, Tensor):
        return data._data.copy()
    if isinstance(data, np.ndarray):
        return data.copy()
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flatten(data)):
        data = _nested_tensors_to_lists(data)
    array = np.array(data)
    if array.dtype == object:
        raise TypeError(f"tensor(): could not infer dtype of {type(data).__name__} (ragged nested "
                        f"sequences or non-numeric elements)")
    if array.dtype.kind == "f":
        if not isinstance(data, np.generic) and not keep_float64:
            array = array.astype(dtypes.get_default_dtype().numpy)
    elif array.dtype.kind in "iu" and not isinstance(data, (np.generic,)):
        array = array.astype(np.int64)
    elif array.dtype.kind not in "biuf":
        raise TypeError(f"tensor(): unsupported data of dtype {array.dtype}")
    return array


def _flatten(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        else:
            yield x


def _nested_tensors_to_lists(data):
    if isinstance(data, Tensor):
        return data._data.tolist()
    if isinstance(data, (list, tuple)):
        return [_nested_tensors_to_lists(x) for x in data]
    return data


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays or tensors)."""
    return _finish(_infer_array(data, keep_float64=dtype is not None), dtype, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a NumPy array or Tensor when dtype and device allow."""
    if isinstance(data, Tensor):
        return data.to(dtype=dtype, device=device) if (dtype or device) else data
    if isinstance(data, np.ndarray):
        return _finish(data, dtype, device, False)
    return tensor(data, dtype, device)


asarray = as_tensor


def from_numpy(array):
    """A tensor sharing memory with a NumPy array (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(array).__name__})")
    dtypes.from_numpy(array.dtype)
    return Tensor(array)


def from_dlpack(external):
    """A tensor sharing memory with any object that implements the DLPack protocol."""
    if isinstance(external, Tensor):
        return external
    device_type, _ = external.__dlpack_device__()
    if device_type == 1:  # kDLCPU
        return Tensor(np.from_dlpack(external))
    return Tensor(backend_for(Device("cuda")).from_dlpack(external))


def scalar_tensor(value, dtype=None, device=None, requires_grad=False):
    return tensor(value, dtype or dtypes.get_default_dtype(), device, requires_grad)


def _size_arg(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for s in size:
        if not isinstance(s, (numbers.Integral, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a tuple of ints, got {tuple(size)!r}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return tuple(int(s) for s in size)


def _float_dtype(dtype):
    return dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def _filled(fill, shape, dtype, device, requires_grad):
    """A tensor of ``shape`` and NumPy ``dtype`` made by ``fill(xp, shape, dtype)`` on ``device`` itself
    (``xp.zeros``...): no copy from the host, which costs a transfer and which a CUDA-graph capture
    refuses."""
    dev = CPU if device is None else Device(device)
    return Tensor(backend_for(dev).made_on(dev, lambda xp: fill(xp, shape, dtype)), requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros. Shape: size."""
    return _filled(lambda xp, *args: xp.zeros(*args), _size_arg(size), _float_dtype(dtype).numpy, device,
                   requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones. Shape: size."""
    return _filled(lambda xp, *args: xp.ones(*args), _size_arg(size), _float_dtype(dtype).numpy, device,
                   requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor. Shape: size."""
    return _filled(lambda xp, *args: xp.empty(*args), _size_arg(size), _float_dtype(dtype).numpy, device,
                   requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value`` (dtype inferred from it, as PyTorch). Shape: size."""
    if dtype is None:
        dtype = dtypes.scalar_dtype(fill_value)
    return _filled(lambda xp, shape, numpy_dtype: xp.full(shape, fill_value, numpy_dtype), _size_arg((size,)),
                   dtypes.to_dtype(dtype).numpy, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The identity matrix. Shape: (n, m or n)."""
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype).numpy), None, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` up to (not including) ``end`` by ``step``: int64 for integer arguments,
    else the default float dtype. Shape: (ceil((end - start) / step),)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    if dtype is None:
        dtype = dtypes.result_type(start, end, step)
    dtype = dtypes.to_dtype(dtype)
    count = int(np.ceil((end - start) / step))

    def fill(xp, shape, numpy_dtype):
        return (start + step * xp.arange(count, dtype=np.float64 if dtype.is_floating_point else np.int64)
                ).astype(numpy_dtype)
    return _filled(fill, (count,), dtype.numpy, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive. Shape: (steps,)."""
    if steps < 0:
        raise RuntimeError("linspace: number of steps must be non-negative")
    return _finish(np.linspace(start, end, steps, dtype=np.float64).astype(_float_dtype(dtype).numpy),
                   None, device, requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    """``base ** linspace(start, end, steps)``. Shape: (steps,)."""
    return _finish(np.logspace(start, end, steps, base=base).astype(_float_dtype(dtype).numpy),
                   None, device, requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples from [0, 1). Shape: size."""
    array = random_source(generator, device).random(_size_arg(size))
    return _finish(array, _float_dtype(dtype), device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples. Shape: size."""
    array = random_source(generator, device).standard_normal(_size_arg(size))
    return _finish(array, _float_dtype(dtype), device, requires_grad)


def randint(low, high=None, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers uniform in [low, high) (``randint(high, size)`` also works); int64 by default.
    Shape: size."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    array = random_source(generator, device).integers(low, high, _size_arg((size,)), dtype=np.int64)
    return _finish(array, dtype or dtypes.int64, device, requires_grad)


def randperm(n, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0..n-1 (int64). Shape: (n,)."""
    return _finish(generator_numpy(generator).permutation(n).astype(np.int64), dtype, device,
                   requires_grad)


def normal(mean, std, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Normal samples with the given ``mean`` and ``std`` (numbers with ``size``, or tensors)."""
    mean_a = mean._data if isinstance(mean, Tensor) else mean
    std_a = std._data if isinstance(std, Tensor) else std
    shape = _size_arg((size,)) if size is not None else np.broadcast_shapes(np.shape(mean_a), np.shape(std_a))
    array = generator_numpy(generator).normal(mean_a, std_a, shape)
    return _finish(np.asarray(array), _float_dtype(dtype), device, requires_grad)


def bernoulli(input, p=None, generator=None):
    """0/1 samples, 1 with probability ``input`` (or ``p``). Shape: like ``input``."""
    probs = input._data if p is None else p
    array = (random_source(generator, input.device).random(input.shape) < probs).astype(input._data.dtype)
    return Tensor(array)


def _like(factory):
    def like(input, *args, dtype=None, device=None, requires_grad=False, **kwargs):
        t = factory(*args, input.shape, dtype=dtype or input.dtype, device=device or input.device,
                    requires_grad=requires_grad, **kwargs) if factory is not full else \
            full(input.shape, *args, dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad)
        return t
    like.__name__ = factory.__name__ + "_like"
    like.__doc__ = f"``{factory.__name__}`` with the shape (and, by default, dtype and device) of ``input``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
full_like = _like(full)
rand_like = _like(rand)
randn_like = _like(randn)


def randint_like(input, low, high=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype, device=device or input.device,
                   requires_grad=requires_grad)


def _new(factory):
    def method(self, *args, dtype=None, device=None, requires_grad=False, **kwargs):
        return factory(*args, dtype=dtype or self.dtype, device=device or self.device,
                       requires_grad=requires_grad, **kwargs)
    return method


Tensor.new_zeros = _new(zeros)
Tensor.new_ones = _new(ones)
Tensor.new_empty = _new(empty)
Tensor.new_full = _new(full)
Tensor.new_tensor = _new(tensor)
