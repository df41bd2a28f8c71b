"""CuPy on the host: this module stands in for ``cupy`` (``runtime.cupy()`` returns it under
``cuda_emulator.install`` and under ``EMBER_EMULATE_CUDA=1``, tests/conftest.py), for the CUDA host
emulator's kernels (elementwise.py's ElementwiseKernel and ReductionKernel, raw_kernels.py's RawModule)
and for ember's engine, which computes with it as its array module on device cuda.

A device array (``ndarray``) holds NumPy data in an allocation of its own between two guard zones, so
that a kernel writing past an array's ends is caught (``Allocation.check``). Fresh memory (``empty``)
and the guard zones are filled with 0xFF bytes, NaN in float32 and float64 and -1 in integers: an output
element a kernel forgets to write, or a read past an end, shows in the results.

The NumPy API is forwarded to NumPy, with CuPy's differences kept so that code which works only on NumPy
fails here as on a GPU: a device array does not turn into a NumPy array implicitly (``get()`` copies it
to the host) and has no ``__index__``; NumPy arrays are refused as operands (Python and NumPy scalars are
fine; index arrays and values assigned through advanced indexing may be NumPy's, as CuPy copies them);
reductions and every other function return 0-d device arrays where NumPy returns scalars; NumPy's
functions applied to device arrays dispatch here (``__array_ufunc__``, ``__array_function__``), as
CuPy's do. Names and keywords CuPy lacks raise as in CuPy (cupy_rules.py).

Every device operation is ``capture.recorded``, for CUDA-graph capture (capture.py): during one it runs
and leaves a step for the graph, or raises as CuPy does where CuPy cannot capture it (synchronisations,
copies between host and device, cuBLAS, cuRAND: ``capture.refuse`` and the ``refuse_when`` checks).
"""
import functools
import types
import weakref

import numpy as np

from . import capture, cupy_rules, fake_cuda

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint32, uint64, bool_ = np.uint8, np.uint32, np.uint64, np.bool_
dtype = np.dtype

POISON = 0xFF
live_allocations = weakref.WeakSet()  # every Allocation alive: a capture saves their bytes at its start


class Allocation:
    """``nbytes`` of device memory with guard zones before and after, all of it poisoned at first;
    ``pointer``, what the allocator (``cuda.set_allocator``) returned for it, lives as long as it."""

    def __init__(self, nbytes):
        self.nbytes = nbytes
        self.guard = max(1024, -(-nbytes // 64) * 64)  # a multiple of 64: the data stays aligned
        self.bytes = np.full(nbytes + 2 * self.guard, POISON, np.uint8)
        self.device = fake_cuda.current_device()
        live_allocations.add(self)
        # a graph's launch allocates nothing: its temporaries take no memory from the allocator
        self.pointer = fake_cuda.allocate(nbytes) if not capture.busy or capture.allocation_made(self) else None

    def borrowed(self):
        """This memory as a captured graph holds it: the bytes without the pointer (the arrays may be
        freed, as on a GPU), and ``block``, the pool's block the pointer had (None if not a pool's)."""
        memory = object.__new__(Allocation)
        memory.__dict__.update(self.__dict__, pointer=None, block=getattr(self.pointer, "block", None))
        live_allocations.add(memory)
        return memory

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
    result = ndarray(allocation.array(shape, dtype, strides), allocation, owner=True)
    if fill is not None:
        result._data[...] = fill
    return result


def _to_device(host):
    """A NumPy array copied into a new allocation, C-contiguous."""
    host = np.asarray(host)
    result = _allocate(host.shape, host.dtype)
    result._data[...] = host
    return result


def _wrap(result, *sources):
    """NumPy's ``result`` of an operation on device arrays ``sources``, as CuPy returns it: a view of a
    source's allocation when it is one (a reshape, a slice), else a new allocation; 0-d arrays for NumPy
    scalars; tuples and lists of results element by element; other values (shapes, dtypes, Python
    numbers from ``item()``) as they are."""
    if isinstance(result, np.ndarray):
        for source in sources:
            if isinstance(source, ndarray) and np.may_share_memory(result, source._allocation.bytes):
                if not result.flags.writeable:  # NumPy's diagonals and windows are read-only; CuPy's are not
                    result = result.view()
                    try:
                        result.flags.writeable = True
                    except ValueError:  # a broadcast view, whose elements alias: NumPy keeps it read-only
                        pass
                return ndarray(result, source._allocation)
        return _to_device(result)
    if isinstance(result, np.generic):
        return _to_device(result)
    if isinstance(result, (tuple, list)) and any(isinstance(r, (np.ndarray, np.generic)) for r in result):
        return type(result)(_wrap(r, *sources) for r in result)
    return result


def _device_data(value, what):
    """The NumPy data of a device array, or a scalar as it is; TypeError for host arrays, as CuPy."""
    if isinstance(value, ndarray):
        return value._data
    if isinstance(value, (int, float, complex, np.generic)):
        return value
    raise TypeError(f"Unsupported type {type(value)} for {what}: CuPy takes device arrays and scalars")


def _unwrap(value, what, host_ok=False):
    """``value`` with its device arrays as their NumPy data, through lists, tuples and dicts; a NumPy
    array is TypeError unless ``host_ok`` (CuPy takes host data where it copies it to the device)."""
    if isinstance(value, ndarray):
        return value._data
    if isinstance(value, np.ndarray) and not host_ok:
        raise TypeError(f"Unsupported type {type(value)} for {what}: CuPy takes device arrays and scalars")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, what, host_ok) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, what, host_ok) for k, v in value.items()}
    return value


def _require_device(value, what):
    if not isinstance(value, ndarray):
        raise TypeError(f"{what} expects a cupy.ndarray, got {type(value).__name__}")
    return value


def _operator(function, name):
    """An ndarray operator that is ``cupy.<name>``, as device work (the @ operator is cuBLAS)."""
    function.__qualname__ = f"cupy.{name} (an ndarray operator)"
    refused = capture.refusal(f"cupy.{name}")
    return capture.recorded(function, refuse_when=refused and (lambda *args: f"an ndarray operator, {refused}"))


def _binary(function, reflected=False):
    def operator(self, other):
        other = _device_data(other, f"the operand of {function.__name__}")
        return _wrap(function(other, self._data) if reflected else function(self._data, other))
    return _operator(operator, function.__name__)


def _in_place(function):
    def operator(self, other):
        function(self._data, _device_data(other, f"the operand of {function.__name__}"), out=self._data,
                 casting="same_kind")
        return self
    return _operator(operator, function.__name__)


def _unary(function):
    return _operator(lambda self: _wrap(function(self._data)), function.__name__)


def _to_python(convert):
    def to_python(self):
        capture.refuse(f"ndarray.__{convert.__name__}__ (a copy to the host)")  # a synchronisation
        return convert(self._data)
    return to_python


def _host_array(value):
    """Whether ``value`` is host data that CuPy copies to the device to use: a NumPy array, or a list or
    tuple holding numbers or arrays (a scalar alone goes to a kernel as it is)."""
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, (int, float, complex, np.generic)) or _host_array(v) for v in value)
    return False


def _index_refusal(what, key):
    """What CuPy cannot capture of indexing with ``key``: a host index (copied to the device), a boolean
    mask (its count of True is copied to the host); None."""
    for part in key if isinstance(key, tuple) else (key,):
        if _host_array(part):
            return f"{what} with a host index (a copy from host to device)"
        if isinstance(part, ndarray) and part.dtype == np.bool_:
            return f"{what} with a boolean mask (its count of True is copied to the host)"
    return None


def _setitem_refusal(self, key, value):
    return _index_refusal("ndarray.__setitem__", key) or (
        _host_array(value) and "ndarray.__setitem__ of host data (a copy from host to device)")


def _copy_to_device_refusal(obj, *args, **kwargs):
    if not isinstance(obj, ndarray):
        return f"cupy.array or cupy.asarray of {type(obj).__name__} (a copy from host to device)"
    return None


class _Flags:
    """CuPy's ``ndarray.flags``: the layout flags only (no ``writeable``: CuPy arrays always are)."""

    def __init__(self, flags):
        self.c_contiguous, self.f_contiguous, self.owndata = flags.c_contiguous, flags.f_contiguous, flags.owndata

    def __getitem__(self, name):
        return getattr(self, {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
                              "OWNDATA": "owndata"}[name])


class ndarray:  # noqa: N801  (cupy.ndarray)
    """A device array: ``_data``, NumPy's view of its memory in ``_allocation``. Methods and properties
    not defined here are NumPy's, forwarded (``__getattr__``)."""

    def __init__(self, data, allocation, owner=False):
        self._data, self._allocation, self._owner = data, allocation, owner

    @property
    def base(self):
        """CuPy's: None for an array that owns its memory (a new array), else an array of the memory it
        views (NumPy's ``base`` would never be None here: every array views its allocation's bytes)."""
        return None if self._owner else ndarray(self._allocation.array((self._allocation.nbytes,), np.uint8),
                                                self._allocation)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``np.exp(device_array)``: CuPy's ufunc of that name (NumPy arrays among the operands fail there)."""
        if "out" in kwargs and isinstance(kwargs["out"], tuple):
            kwargs["out"] = kwargs["out"][0] if len(kwargs["out"]) == 1 else kwargs["out"]
        try:
            function = _module_attribute(ufunc.__name__)
        except AttributeError:
            return NotImplemented
        return function(*inputs, **kwargs) if method == "__call__" else getattr(function, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """``np.concatenate([device arrays])``: CuPy's function of that name, as CuPy dispatches."""
        module, _, path = func.__module__.partition(".")
        if module != "numpy" or not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
            return NotImplemented
        try:
            return _module_attribute(f"{path}.{func.__name__}" if path else func.__name__)(*args, **kwargs)
        except AttributeError:
            return NotImplemented

    __module__ = "cupy"  # as CuPy's: ember tells a device array by its type's module
    __hash__ = None
    __array_priority__ = 100

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    size = property(lambda self: self._data.size)
    ndim = property(lambda self: self._data.ndim)
    strides = property(lambda self: self._data.strides)
    itemsize = property(lambda self: self._data.itemsize)
    nbytes = property(lambda self: self._data.nbytes)
    flags = property(lambda self: _Flags(self._data.flags))
    device = property(lambda self: self._allocation.device)
    T = property(lambda self: self.transpose())

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        capture.refuse("ndarray.__repr__ (a copy to the host)")
        return f"emulated device array({self._data!r})"

    def __getattr__(self, name):
        """NumPy's method or property ``name``, where CuPy's ndarray has it too (cupy_rules.py)."""
        if name.startswith("_"):
            raise AttributeError(name)
        cupy_rules.check_method(name)
        attribute = getattr(self._data, name)
        if not callable(attribute):
            return _wrap(attribute, self)
        return functools.partial(_ndarray_method, self, name)

    def get(self, stream=None):
        capture.refuse("ndarray.get (a copy to the host)")
        return self._data.copy()

    def set(self, arr, stream=None):
        """CuPy's copy of a NumPy array of this shape and dtype into this array."""
        capture.refuse("ndarray.set (a copy from host to device)")
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        self._data[...] = arr

    @capture.recorded
    def copy(self, order="C"):
        return _to_device(np.array(self._data, order=order))

    @capture.recorded
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and self.dtype == np.dtype(dtype):
            return self
        return _to_device(self._data.astype(dtype))

    @capture.recorded
    def fill(self, value):
        if isinstance(value, np.ndarray) and value.shape != ():
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._data.fill(_device_data(value, "fill"))

    @capture.recorded(refuse_when=lambda self, key: _index_refusal("ndarray.__getitem__", key))
    def __getitem__(self, key):
        data = self._data[_index(key)]
        if isinstance(data, np.generic):  # an element: CuPy gives a 0-d view of it, NumPy a scalar copy
            data = self._data[_index(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
        return _wrap(data, self)

    @capture.recorded(refuse_when=_setitem_refusal)
    def __setitem__(self, key, value):
        """CuPy copies a NumPy array (or list) assigned through advanced indexing to the device, and
        fills a basic index's elements with a scalar; another host array there is an error."""
        if not isinstance(value, ndarray) and not np.isscalar(value) and not _advanced(key):
            if isinstance(value, np.ndarray) and value.shape == ():
                value = value[()]
            else:
                raise ValueError(f"non-scalar {type(value).__name__} cannot be assigned to a basic index of a "
                                 "device array: CuPy wants a cupy.ndarray (copy it with cupy.asarray)")
        self._data[_index(key)] = _unwrap(value, "an assigned value", host_ok=True)

    __add__, __radd__, __iadd__ = _binary(np.add), _binary(np.add, True), _in_place(np.add)
    __sub__, __rsub__, __isub__ = _binary(np.subtract), _binary(np.subtract, True), _in_place(np.subtract)
    __mul__, __rmul__, __imul__ = _binary(np.multiply), _binary(np.multiply, True), _in_place(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide), _binary(np.true_divide, True)
    __itruediv__ = _in_place(np.true_divide)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide), _binary(np.floor_divide, True)
    __mod__, __rmod__ = _binary(np.remainder), _binary(np.remainder, True)
    __pow__, __rpow__, __ipow__ = _binary(np.power), _binary(np.power, True), _in_place(np.power)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __and__, __rand__, __iand__ = _binary(np.bitwise_and), _binary(np.bitwise_and, True), _in_place(np.bitwise_and)
    __or__, __ror__, __ior__ = _binary(np.bitwise_or), _binary(np.bitwise_or, True), _in_place(np.bitwise_or)
    __xor__, __rxor__ = _binary(np.bitwise_xor), _binary(np.bitwise_xor, True)
    __lt__, __le__, __gt__, __ge__ = _binary(np.less), _binary(np.less_equal), _binary(np.greater), \
        _binary(np.greater_equal)
    __eq__, __ne__ = _binary(np.equal), _binary(np.not_equal)
    __neg__, __pos__, __abs__, __invert__ = _unary(np.negative), _unary(np.positive), _unary(np.abs), \
        _unary(np.invert)
    __bool__, __int__, __float__, __complex__ = _to_python(bool), _to_python(int), _to_python(float), \
        _to_python(complex)


@capture.recorded(refuse_when=lambda array, name, /, *args, **kwargs: capture.refusal(f"ndarray.{name}"))
def _ndarray_method(array, name, /, *args, **kwargs):
    """``array.<name>(*args, **kwargs)``: NumPy's method, as CuPy's."""
    what = f"ndarray.{name}"
    cupy_rules.check_call(what, args, kwargs, method=True)
    return _wrap(getattr(array._data, name)(*_unwrap(args, what), **_unwrap(kwargs, what)), array,
                 *args, *kwargs.values())


def _index(key):
    """An index with its device arrays (advanced indexing) as their data."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    return key._data if isinstance(key, ndarray) else key


def _advanced(key):
    """Whether ``key`` indexes with an array or list (advanced indexing), not only ints and slices."""
    parts = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (ndarray, np.ndarray, list)) for k in parts)


# ---- functions with behaviour of their own; the rest are NumPy's, forwarded (module __getattr__) ----

@capture.recorded
def empty(shape, dtype=float, order="C"):
    if order != "C":
        raise NotImplementedError("the emulated cupy.empty makes C-ordered arrays only")
    return _allocate(shape, dtype)


@capture.recorded
def zeros(shape, dtype=float, order="C"):
    if order != "C":
        raise NotImplementedError("the emulated cupy.zeros makes C-ordered arrays only")
    return _allocate(shape, dtype, fill=0)


@capture.recorded
def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    """CuPy's (and NumPy's) layout: order 'K' keeps the prototype's order of strides."""
    layout = np.empty_like(_require_device(prototype, "cupy.empty_like")._data, dtype, order, shape=shape)
    return _allocate(layout.shape, layout.dtype, layout.strides)


@capture.recorded
def zeros_like(prototype, dtype=None, order="K", subok=None, shape=None):
    result = empty_like(prototype, dtype, order, shape=shape)
    result._data[...] = 0
    return result


@capture.recorded(refuse_when=_copy_to_device_refusal)
def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0):
    """A device array of ``obj``: host data (NumPy arrays, lists, scalars) copied to the device, a
    device array copied unless ``copy`` is False and it already has ``dtype``."""
    if isinstance(obj, ndarray):
        if not copy and (dtype is None or np.dtype(dtype) == obj.dtype) and obj.ndim >= ndmin:
            return obj
        return _to_device(np.array(obj._data, dtype, order=order, ndmin=ndmin))
    return _to_device(np.array(_unwrap(obj, "cupy.array", host_ok=True), dtype, order=order, ndmin=ndmin))


@capture.recorded(refuse_when=_copy_to_device_refusal)
def asarray(a, dtype=None, order=None):
    """A device array: ``a`` itself when it is one of ``dtype``; host data is copied to the device."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    return _to_device(np.asarray(_unwrap(a, "cupy.asarray", host_ok=True), dtype))


@capture.recorded
def ascontiguousarray(a, dtype=None):
    """CuPy's: ``a`` itself when it is C-contiguous of ``dtype`` (a 0-d one raveled to (1,)), else a
    C-contiguous copy; a device array only."""
    a = _require_device(a, "cupy.ascontiguousarray")
    if (dtype is None or np.dtype(dtype) == a.dtype) and a.flags.c_contiguous:
        return a.ravel() if a.ndim == 0 else a
    result = _allocate(a.shape or (1,), a.dtype if dtype is None else dtype)
    result._data[...] = a._data.reshape(result.shape)
    return result


def asnumpy(a, stream=None):
    if not isinstance(a, ndarray):
        return np.asarray(a)
    capture.refuse("cupy.asnumpy (a copy to the host)")
    return a.get()


def get_array_module(*args):
    import sys
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


class _Ufunc:
    """A NumPy ufunc as CuPy's: operands are device arrays or scalars (no NumPy arrays, no lists)."""

    def __init__(self, ufunc):
        self._ufunc, self.__name__ = ufunc, ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    @capture.recorded(refuse_when=lambda self, *args, **kwargs: capture.refusal(f"cupy.{self.__name__}"))
    def __call__(self, *args, **kwargs):
        cupy_rules.check_call(self.__name__, args, kwargs, ufunc=True)
        operands = [_device_data(a, f"cupy.{self.__name__}") for a in args]
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_require_device(o, f"cupy.{self.__name__}'s out")._data for o in
                                  (out if isinstance(out, tuple) else (out,)))
        result = self._ufunc(*operands, **kwargs)
        if out is not None:
            return out
        return _wrap(result, *args)

    @capture.recorded(refuse_when=lambda self, a, indices, b=None: _index_refusal(f"cupy.{self.__name__}.at", indices)
                      or (_host_array(b) and f"cupy.{self.__name__}.at of host values (a copy from host to device)"))
    def at(self, a, indices, b=None):
        """CuPy scatters host indices and values too (it copies them to the device)."""
        _require_device(a, f"cupy.{self.__name__}.at")
        args = (_index(indices),) + (() if b is None else (_unwrap(b, f"cupy.{self.__name__}.at", True),))
        self._ufunc.at(a._data, *args)

    def __getattr__(self, method):  # reduce, accumulate, outer: device arrays only
        getattr(self._ufunc, method)  # AttributeError for a name ufuncs lack
        return functools.partial(_ufunc_method, self, method)


@capture.recorded
def _ufunc_method(ufunc, method, /, *args, **kwargs):
    what = f"cupy.{ufunc.__name__}.{method}"
    return _wrap(getattr(ufunc._ufunc, method)(*_unwrap(args, what), **_unwrap(kwargs, what)), *args)


def _forward(name, function):
    """NumPy's ``function`` taking and returning device arrays, as CuPy's ``name``."""
    host_ok = name in cupy_rules.TAKES_HOST_DATA

    def refusal(*args, **kwargs):
        return capture.refusal(f"cupy.{name}", args) or (
            host_ok and any(_host_array(a) for a in (*args, *kwargs.values()))
            and f"cupy.{name} of host data (a copy from host to device)")

    def forwarded(*args, **kwargs):
        cupy_rules.check_call(name, args, kwargs)
        result = function(*_unwrap(args, f"cupy.{name}", host_ok), **_unwrap(kwargs, f"cupy.{name}", host_ok))
        out = kwargs.get("out")
        if isinstance(out, ndarray) and isinstance(result, np.ndarray) and result is out._data:
            return out
        return _wrap(result, *args, *kwargs.values(), *(a for arg in args if isinstance(arg, (list, tuple))
                                                        for a in arg))
    forwarded.__name__, forwarded.__qualname__ = name, f"cupy.{name}"
    return capture.recorded(forwarded, refuse_when=refusal)


class _Submodule:
    """``cupy.lib.stride_tricks``, ``cupy.linalg``...: NumPy's submodule of that path, adapted."""

    def __init__(self, path):
        self._path = path

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _module_attribute(f"{self._path}.{name}")


_adapted = {}  # dotted name -> what _module_attribute made of it


def _module_attribute(name):
    """``cupy.<name>`` (``name`` may be dotted, as 'lib.stride_tricks.sliding_window_view'): what is
    defined here, else NumPy's ``name`` adapted (ufuncs, functions and submodules; dtypes and
    constants as they are); AttributeError where CuPy has no such name."""
    if name in globals():
        return globals()[name]
    if name in _adapted:
        return _adapted[name]
    if name in fake_cuda.MODULE_ATTRIBUTES:
        value = fake_cuda.MODULE_ATTRIBUTES[name]
    elif name in ("ElementwiseKernel", "ReductionKernel"):
        from . import elementwise
        value = getattr(elementwise, name)
    else:
        cupy_rules.check_name(name)
        value = np
        for part in name.split("."):
            if not hasattr(value, part):
                raise AttributeError(f"the emulator's fake cupy has no {name}: add it to tests/cuda_emulator/")
            value = getattr(value, part)
        if isinstance(value, np.ufunc):
            value = _Ufunc(value)
        elif isinstance(value, types.ModuleType):
            value = _Submodule(name)
        elif callable(value) and not isinstance(value, type) and name not in cupy_rules.HOST_FUNCTIONS:
            value = _forward(name, value)
    _adapted[name] = value
    return value


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _module_attribute(name)
