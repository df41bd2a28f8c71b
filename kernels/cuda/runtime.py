"""CuPy and the GPU, as the CUDA kernels need them: loaded on first use, with the reason when they
cannot be (CuPy not installed, no GPU, no driver), so the registry can skip an implementation and
``ember.kernels.available()`` can say why.

The CUDA C++ sources live beside this file as ``<family>.cu``. CuPy compiles them at run time
(NVRTC, through ``RawModule``); the C++/CUDA extension (``ember.kernels._cuda``) compiles the same
files ahead of time with nvcc, so each kernel is written once.
"""
import functools
import pathlib
import re
import threading

SOURCE_DIR = pathlib.Path(__file__).parent
BLOCK = 256   # threads per block for 1-d launches: a multiple of the warp, enough to hide latency


@functools.cache
def _probe():
    """(cupy module or None, reason it is unusable or None)."""
    try:
        import cupy
    except ImportError as error:
        return None, f"CuPy is not installed ({error}); install the GPU extra: pip install -e .[cuda]"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDARuntimeError without a driver or device
        return None, f"no usable CUDA device ({error})"
    if count == 0:
        return None, "no CUDA device was found"
    return cupy, None


def gpu_available():
    """True when CuPy imports and at least one CUDA device answers."""
    return _probe()[0] is not None


def unusable_reason():
    """Why the GPU cannot be used here, or None when it can."""
    return _probe()[1]


def cupy():
    """The ``cupy`` module, or RuntimeError saying why the GPU is unusable here."""
    module, reason = _probe()
    if module is None:
        raise RuntimeError(reason)
    return module


_LOCAL_INCLUDE = re.compile(r'^#include "([\w.]+)"\s*$', re.M)


def source(family):
    """The text of ``kernels/cuda/<family>.cu`` with its ``#include "common.cuh"``-style lines
    replaced by the files' text: NVRTC compiles from a temporary folder that cannot see ours, and
    CuPy's cache is keyed by the source text, so an edit to an included file must change it."""
    def inline(match):
        return (SOURCE_DIR / match.group(1)).read_text().replace("#pragma once", "")
    return _LOCAL_INCLUDE.sub(inline, (SOURCE_DIR / f"{family}.cu").read_text())


@functools.cache
def raw_module(family, name_expressions=()):
    """``kernels/cuda/<family>.cu`` compiled by CuPy (NVRTC, cached on disk by CuPy).
    ``name_expressions`` lists the template instantiations to compile, e.g. ``("softmax<float>",)``;
    fetch each with ``module.get_function(expression)``."""
    cp = cupy()
    return cp.RawModule(code=source(family), options=("--std=c++17",),
                        name_expressions=tuple(name_expressions))


def template_name(function, dtype):
    """``softmax<float>`` for a float32 array's kernel; ember's CUDA kernels take float or double."""
    scalar = {"float32": "float", "float64": "double"}.get(str(dtype))
    if scalar is None:
        raise TypeError(f"ember's CUDA kernel {function} takes float32 or float64, not {dtype}")
    return f"{function}<{scalar}>"


def instantiations(*functions):
    """The name expressions of ``functions``' float and double instantiations, for ``raw_module``."""
    return tuple(template_name(function, dtype) for function in functions for dtype in ("float32", "float64"))


def kernel(family, instantiations, function, dtype):
    """The compiled ``function<T>`` of ``kernels/cuda/<family>.cu`` for arrays of ``dtype``
    (TypeError for a dtype other than float32/float64), for glue that launches it itself."""
    return raw_module(family, instantiations).get_function(template_name(function, dtype))


def blocks(n, block=BLOCK):
    """Enough blocks of ``block`` threads to cover ``n`` elements (at least one)."""
    return (max(1, -(-int(n) // block)),)


INT32_MAX = 2**31 - 1


_capture = threading.local()  # .active: set by ember.cuda.graph (engine/cuda_graphs.py) around a capture


def capturing():
    """Whether this thread is capturing a CUDA graph through ember now: kernels then avoid what a capture
    cannot hold (cuBLAS, host synchronisation). Per thread, as CuPy's current stream is."""
    return getattr(_capture, "active", False)


def set_capturing(flag):
    """Mark this thread as capturing (``flag`` True) or not; engine/cuda_graphs.py calls it."""
    _capture.active = bool(flag)


def launch(family, instantiations, kernel_name, count, *args):
    """Run ``kernel_name`` of ``kernels/cuda/<family>.cu``, instantiated for the dtype of ``args[0]``, on
    ``count`` threads in 1-d blocks of BLOCK. ``args``: CuPy arrays (the floating ones all of that
    dtype) and whole numbers, passed as int32, the kernels' index type; TypeError for mixed float
    dtypes, ValueError where an array's size or a number does not fit in int32."""
    import numpy as np
    cp = cupy()
    arrays = [a for a in args if isinstance(a, cp.ndarray)]
    if any(a.dtype.kind == "f" and a.dtype != args[0].dtype for a in arrays):
        raise TypeError(f"{kernel_name}: expected arrays of one dtype, got {', '.join(str(a.dtype) for a in arrays)}")
    largest = max([count] + [a.size if isinstance(a, cp.ndarray) else abs(int(a)) for a in args])
    if largest > INT32_MAX:
        raise ValueError(f"{kernel_name}: the CUDA kernel indexes with int32, and {largest} elements pass 2**31 - 1")
    if count:
        function = kernel(family, instantiations, kernel_name, args[0].dtype)
        function(blocks(count), (BLOCK,), tuple(a if isinstance(a, cp.ndarray) else np.int32(a) for a in args))


def loader(function):
    """A registry loader: ``function`` itself, once CuPy and a GPU are known to be usable."""
    def load():
        cupy()
        return function
    return load
