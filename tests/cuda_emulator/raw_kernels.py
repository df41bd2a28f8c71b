"""``runtime.raw_module`` for the CUDA host emulator: the kernels of a family's library (build.py),
launched as CuPy launches a RawModule's functions, with the checks a GPU would not make for us.

CuPy passes each argument of ``function(grid, block, args)`` by its Python type, not by the kernel's
signature, which it does not know: a device array as a pointer, None as a null pointer, a NumPy scalar
as its bytes, a Python int as an int64, a float as a float64 (cupy/cuda/function.pyx, ``_pointer``).
The GPU then reads as many bytes as the kernel's parameter has from each: an int64 where the kernel
takes an int, a float64 where it takes a float, an int32 where it takes a long long, is no error there
but a wrong value (or a right one, by luck, on little-endian hardware). Here each argument must match
its parameter exactly: its kind and size, an array's dtype and C-contiguity (the kernels index arrays
as C-contiguous); and the launch must fit CUDA's limits.
"""
import ctypes
import functools
import itertools

import numpy as np

from . import build, capture, fake_cupy

# CUDA's limits on a launch (every GPU since compute capability 3.0)
MAX_BLOCK = (1024, 1024, 64)
MAX_THREADS_PER_BLOCK = 1024
MAX_GRID = (2**31 - 1, 65535, 65535)

_C_TYPES = {"f2": "half", "f4": "float", "f8": "double", "i1": "signed char", "i2": "short", "i4": "int",
            "i8": "long long", "u1": "unsigned char", "u2": "unsigned short", "u4": "unsigned int",
            "u8": "unsigned long long", "b1": "bool"}
_NUMPY_SCALARS = {np.dtype(code).type for code in "?bhilqBHILQefdFD"}  # what CuPy passes as is

launched = set()  # (family, name expression) of every launch, for a test that every kernel ran
_seeds = itertools.count()  # the schedules of the launches (emulator.cpp's random order)


def restart_schedules():
    """Restarts the launches' sequence of schedule seeds: a test that calls it first orders its threads
    the same way whether it runs alone or in a whole session."""
    global _seeds
    _seeds = itertools.count()


def _parameter(code):
    """``const float*`` for 'cf4': a parameter as C++ spells it."""
    if code[0] in "cp":
        return ("const " if code[0] == "c" else "") + _C_TYPES[code[1:]] + "*"
    return _C_TYPES[code]


class _Argument:
    """One argument of a launch, as CuPy turns it into bytes: ``code`` (as emulator.h's parameter
    codes: 'f4', 'i8'..., 'array' or 'null'), ``cell`` (the ctypes value the kernel reads) and, for an
    array, ``array``."""

    def __init__(self, value):
        self.array = None
        if value is None:
            self.code, self.cell, self.description = "null", ctypes.c_void_p(0), "None (a null pointer)"
        elif isinstance(value, fake_cupy.ndarray):
            self.code, self.cell, self.array = "array", ctypes.c_void_p(value._data.ctypes.data), value
            self.description = f"an array of {value.dtype}"
        else:
            passed = value
            if type(value) not in _NUMPY_SCALARS:
                if isinstance(value, int):  # bool too: CuPy tests int first
                    passed = np.int64(value)
                elif isinstance(value, float):
                    passed = np.float64(value)
                elif isinstance(value, complex):
                    passed = np.complex128(value)
                else:
                    raise TypeError(f"Unsupported type {type(value)}")
            self.code = f"{passed.dtype.kind}{passed.dtype.itemsize}"
            self.cell = (ctypes.c_uint64 * 2)()  # aligned for any scalar the kernel reads
            ctypes.memmove(self.cell, passed.tobytes(), passed.dtype.itemsize)
            self.description = (f"a Python {type(value).__name__}, which CuPy passes as {passed.dtype}"
                                if passed is not value else f"a scalar of {passed.dtype}")

    def mismatch(self, parameter):
        """Why this argument cannot be the kernel's parameter ``parameter`` (a code), or None."""
        if parameter[0] in "cp":
            if self.code == "null":
                return None
            if self.code != "array":
                return f"it is {self.description}, not an array"
            if f"{self.array.dtype.kind}{self.array.dtype.itemsize}" != parameter[1:]:
                return f"it is {self.description}"
            if not self.array.flags.c_contiguous:
                return f"it is not C-contiguous (shape {self.array.shape}, strides {self.array.strides})"
            return None
        return None if self.code == parameter else f"it is {self.description}"


def _dims(value, what):
    """CuPy's grid or block: a tuple of up to three ints, padded with 1s, each at least 1."""
    if not isinstance(value, tuple):
        raise TypeError(f"Argument '{what}' has incorrect type (expected tuple, got {type(value).__name__})")
    if not all(isinstance(v, (int, np.integer)) for v in value) or len(value) > 3:
        raise TypeError(f"{what} {value}: expected up to three ints")
    return tuple(max(1, int(v)) for v in (value + (1, 1))[:3])


class Function:
    """A kernel of an emulated RawModule, called as CuPy's ``Function``."""

    def __init__(self, library, family, index, name, signature):
        self._library, self._family, self._index = library, family, index
        self.name, self.signature = name, signature

    @capture.recorded
    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        grid, block = _dims(grid, "grid"), _dims(block, "block")
        if any(b > m for b, m in zip(block, MAX_BLOCK)) or np.prod(block) > MAX_THREADS_PER_BLOCK:
            raise ValueError(f"{self.name}: block {block} exceeds CUDA's limits {MAX_BLOCK}, "
                             f"{MAX_THREADS_PER_BLOCK} threads in all (CUDA_ERROR_INVALID_VALUE on a GPU)")
        if any(g > m for g, m in zip(grid, MAX_GRID)):
            raise ValueError(f"{self.name}: grid {grid} exceeds CUDA's limits {MAX_GRID}")
        if shared_mem:
            raise NotImplementedError(f"{self.name}: the CUDA host emulator has no dynamic shared memory")
        arguments = [_Argument(value) for value in args]
        if len(arguments) != len(self.signature):
            raise TypeError(f"{self.name} takes {len(self.signature)} arguments "
                            f"({', '.join(map(_parameter, self.signature))}), got {len(arguments)}")
        for i, (argument, parameter) in enumerate(zip(arguments, self.signature)):
            reason = argument.mismatch(parameter)
            if reason:
                raise TypeError(f"{self.name}: argument {i} cannot be the kernel's parameter {i}, "
                                f"{_parameter(parameter)}: {reason}")
        cells = (ctypes.c_void_p * len(arguments))(*[ctypes.addressof(a.cell) for a in arguments])
        error = ctypes.create_string_buffer(4096)
        failed = self._library.ember_emu_launch(self._index, (ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block),
                                                cells, next(_seeds), error, len(error))
        launched.add((self._family, self.name))
        if failed:
            raise RuntimeError(f"emulated CUDA launch failed: {error.value.decode()}")
        for i, argument in enumerate(arguments):
            if argument.array is not None:
                argument.array._allocation.check(f"{self.name} (argument {i})")


class RawModule:
    """A family's emulated module: ``get_function(name_expression)`` as CuPy's RawModule."""

    def __init__(self, family, library):
        self._functions = {}
        for index in range(library.ember_emu_kernel_count()):
            name = library.ember_emu_kernel_name(index).decode()
            signature = ctypes.create_string_buffer(4096)  # 4 bytes a parameter at most
            library.ember_emu_kernel_signature(index, signature)
            codes = signature.value.decode()
            self._functions[name] = Function(library, family, index, name, codes.split(",") if codes else [])

    def get_function(self, name):
        if name not in self._functions:
            raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: {name} is not among the module's name expressions "
                               f"{sorted(self._functions)}")
        return self._functions[name]


@functools.cache
def _module(family, name_expressions, cache_dir, source):
    library = build.build(family, name_expressions, cache_dir, source)
    return RawModule(family, build.load(library))


def raw_module(family, name_expressions=(), *, cache_dir, source=None):
    """``runtime.raw_module``'s emulated twin: ``family``'s kernels (``source``, by default
    kernels/cuda/<family>.cu as CuPy compiles it) built into ``cache_dir``."""
    return _module(family, tuple(name_expressions), str(cache_dir), source)
