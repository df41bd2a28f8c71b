"""The part of CuPy's API that ember's CUDA glue uses, on the host, for the CUDA host emulator: this
module stands in for ``cupy`` (``runtime.cupy()`` returns it under ``cuda_emulator.install``), with
elementwise.py's ElementwiseKernel and ReductionKernel.

A device array (``ndarray``) holds NumPy data in an allocation of its own between two guard zones, so
that a kernel writing past an array's ends is caught (``Allocation.check``). Fresh memory (``empty``)
and the guard zones are filled with 0xFF bytes, NaN in float32 and float64 and -1 in integers: an output
element a kernel forgets to write, or a read past an end, shows in the results. As in CuPy, a device
array does not turn into a NumPy array implicitly, and NumPy arrays are not accepted where CuPy wants a
device array: glue that mixes host and device arrays fails here as on a GPU.
"""
import numpy as np

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint32, uint64, bool_ = np.uint8, np.uint32, np.uint64, np.bool_
dtype = np.dtype

POISON = 0xFF


class Allocation:
    """``nbytes`` of device memory with guard zones before and after, all of it poisoned at first."""

    def __init__(self, nbytes):
        self.nbytes = nbytes
        self.guard = max(1024, -(-nbytes // 64) * 64)  # a multiple of 64: the data stays aligned
        self.bytes = np.full(nbytes + 2 * self.guard, POISON, np.uint8)

    def array(self, shape, dtype, strides=None):
        return np.ndarray(shape, dtype, buffer=self.bytes, offset=self.guard, strides=strides)

    def check(self, what):
        """AssertionError naming ``what`` when a byte of a guard zone changed."""
        before = np.count_nonzero(self.bytes[:self.guard] != POISON)
        after = np.count_nonzero(self.bytes[self.guard + self.nbytes:] != POISON)
        assert not (before or after), (f"{what} wrote outside its array: {before} bytes changed before its start, "
                                       f"{after} after its end ({self.nbytes} bytes)")


def _allocate(shape, dtype, strides=None, fill=None):
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    allocation = Allocation(nbytes)
    result = ndarray(allocation.array(shape, dtype, strides), allocation)
    if fill is not None:
        result._data[...] = fill
    return result


def _to_device(host):
    """A NumPy array copied into a new allocation, C-contiguous."""
    host = np.asarray(host)
    result = _allocate(host.shape, host.dtype)
    result._data[...] = host
    return result


def _wrap(result, like):
    """NumPy's ``result`` of an operation on ``like``: a view of like's allocation when it is one
    (a reshape or a slice), else a new allocation (NumPy copied)."""
    if isinstance(result, np.ndarray) and np.may_share_memory(result, like._allocation.bytes):
        return ndarray(result, like._allocation)
    return _to_device(result)


def _device_data(value, what):
    """The NumPy data of a device array, or a scalar as it is; TypeError for host arrays, as CuPy."""
    if isinstance(value, ndarray):
        return value._data
    if isinstance(value, (int, float, complex, np.generic)):
        return value
    raise TypeError(f"Unsupported type {type(value)} for {what}: CuPy takes device arrays and scalars")


def _require_device(value, what):
    if not isinstance(value, ndarray):
        raise TypeError(f"{what} expects a cupy.ndarray, got {type(value).__name__}")
    return value


def _binary(function, reflected=False):
    def operator(self, other):
        other = _device_data(other, f"the operand of {function.__name__}")
        return _to_device(function(other, self._data) if reflected else function(self._data, other))
    return operator


def _in_place(function):
    def operator(self, other):
        function(self._data, _device_data(other, f"the operand of {function.__name__}"), out=self._data,
                 casting="same_kind")
        return self
    return operator


class ndarray:  # noqa: N801  (cupy.ndarray)
    """A device array: ``_data``, NumPy's view of its memory in ``_allocation``."""
    __array_ufunc__ = None  # NumPy operations on it defer to it, and it refuses NumPy arrays

    def __init__(self, data, allocation):
        self._data, self._allocation = data, allocation

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly.")

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    size = property(lambda self: self._data.size)
    ndim = property(lambda self: self._data.ndim)
    strides = property(lambda self: self._data.strides)
    itemsize = property(lambda self: self._data.itemsize)
    nbytes = property(lambda self: self._data.nbytes)
    flags = property(lambda self: self._data.flags)
    T = property(lambda self: self.transpose())

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        return f"emulated device array({self._data!r})"

    def get(self):
        return self._data.copy()

    def reshape(self, *shape, order="C"):
        return _wrap(self._data.reshape(*shape, order=order), self)

    def transpose(self, *axes):
        return _wrap(self._data.transpose(*axes), self)

    def ravel(self, order="C"):
        return _wrap(self._data.ravel(order), self)

    def copy(self):
        return _to_device(self._data)

    def astype(self, dtype, copy=True):
        if not copy and self.dtype == np.dtype(dtype):
            return self
        return _to_device(self._data.astype(dtype))

    def __getitem__(self, key):
        return _wrap(self._data[_index(key)], self)

    def __setitem__(self, key, value):
        self._data[_index(key)] = _device_data(value, "an assigned value")

    __add__, __radd__, __iadd__ = _binary(np.add), _binary(np.add, True), _in_place(np.add)
    __sub__, __rsub__, __isub__ = _binary(np.subtract), _binary(np.subtract, True), _in_place(np.subtract)
    __mul__, __rmul__, __imul__ = _binary(np.multiply), _binary(np.multiply, True), _in_place(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide), _binary(np.true_divide, True)
    __itruediv__ = _in_place(np.true_divide)

    def __neg__(self):
        return _to_device(-self._data)


def _index(key):
    """An index with its device arrays (advanced indexing) as their data."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    return key._data if isinstance(key, ndarray) else key


def empty(shape, dtype=float, order="C"):
    if order != "C":
        raise NotImplementedError("the emulated cupy.empty makes C-ordered arrays only")
    return _allocate(shape, dtype)


def zeros(shape, dtype=float, order="C"):
    if order != "C":
        raise NotImplementedError("the emulated cupy.zeros makes C-ordered arrays only")
    return _allocate(shape, dtype, fill=0)


def empty_like(prototype, dtype=None, order="K", shape=None):
    """CuPy's (and NumPy's) layout: order 'K' keeps the prototype's order of strides."""
    layout = np.empty_like(_require_device(prototype, "cupy.empty_like")._data, dtype, order, shape=shape)
    return _allocate(layout.shape, layout.dtype, layout.strides)


def zeros_like(prototype, dtype=None, order="K", shape=None):
    result = empty_like(prototype, dtype, order, shape)
    result._data[...] = 0
    return result


def asarray(a, dtype=None):
    """A device array: ``a`` itself when it is one of ``dtype``; host data is copied to the device."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    return _to_device(np.asarray(a, dtype))


def ascontiguousarray(a, dtype=None):
    """CuPy's: ``a`` itself when it is C-contiguous of ``dtype`` (a 0-d one raveled to (1,)), else a
    C-contiguous copy; a device array only."""
    a = _require_device(a, "cupy.ascontiguousarray")
    if (dtype is None or np.dtype(dtype) == a.dtype) and a.flags.c_contiguous:
        return a.ravel() if a.ndim == 0 else a
    result = _allocate(a.shape or (1,), a.dtype if dtype is None else dtype)
    result._data[...] = a._data.reshape(result.shape)
    return result


def matmul(a, b, out=None):
    """cuBLAS's product, here NumPy's, of two device arrays; into ``out`` (a device array) if given."""
    a, b = _require_device(a, "cupy.matmul"), _require_device(b, "cupy.matmul")
    if out is None:
        return _to_device(np.matmul(a._data, b._data))
    np.matmul(a._data, b._data, out=_require_device(out, "cupy.matmul's out")._data)
    return out


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def __getattr__(name):
    """cupy.ElementwiseKernel and cupy.ReductionKernel, from elementwise.py (which imports this module)."""
    if name in ("ElementwiseKernel", "ReductionKernel"):
        from . import elementwise
        return getattr(elementwise, name)
    raise AttributeError(f"the emulator's fake cupy has no {name}: add it to tests/cuda_emulator/fake_cupy.py")
