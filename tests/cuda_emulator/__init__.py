"""The CUDA host emulator: ember's CUDA kernels compiled for the host by g++ and launched by the real
CuPy glue of kernels/cuda/ through a NumPy-backed fake of CuPy (fake_cupy.py). A RawModule's source,
kernels/cuda/<family>.cu, builds behind a shim of CUDA's builtins (shim.h) into a library per family
(build.py) whose launches a scheduler of fiber threads runs (emulator.cpp, raw_kernels.py); an
ElementwiseKernel's or ReductionKernel's operation becomes a host loop (elementwise.py). Streams and
CUDA-graph capture are emulated too (capture.py). tests/test_cuda_emulator.py says what this proves and
what it cannot; tests/test_capture_emulation.py checks the capture.
"""
import importlib
import os
import pkgutil

import ember.kernels.cuda
from ember.kernels.cuda import runtime

from . import capture, elementwise, fake_cupy, raw_kernels

# tests/conftest.py makes the emulator the cuda device of the whole session under this variable
EMULATING_DEVICE = os.environ.get("EMBER_EMULATE_CUDA") == "1"


def clear_glue_caches():
    """Empties the functools caches of ember.kernels.cuda's modules (the kernels they compiled): an
    emulated kernel must not outlive its test, nor a CuPy one serve in it. Call it after the test."""
    for info in pkgutil.iter_modules(ember.kernels.cuda.__path__):
        for value in vars(importlib.import_module(f"ember.kernels.cuda.{info.name}")).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def _route_kernels(monkeypatch, cache_dir):
    """``runtime.raw_module(family, names)`` as an emulated module built into ``cache_dir``, as are the
    ElementwiseKernels and ReductionKernels."""
    monkeypatch.setattr(elementwise, "cache_dir", cache_dir)
    monkeypatch.setattr(runtime, "raw_module",
                        lambda family, name_expressions=(): raw_kernels.raw_module(family, name_expressions,
                                                                                   cache_dir=cache_dir))


def install(monkeypatch, cache_dir):
    """Routes the CUDA glue to the emulator for one test: ``runtime.cupy()`` returns ``fake_cupy`` and
    ``runtime.raw_module(family, names)`` an emulated module; kernels are built into ``cache_dir`` on
    first use. The launches' schedules restart, and no capture an earlier test left open remains, so that
    a test runs the same way alone or among others."""
    clear_glue_caches()
    raw_kernels.restart_schedules()
    capture.reset()
    monkeypatch.setattr(runtime, "cupy", lambda: fake_cupy)
    _route_kernels(monkeypatch, cache_dir)


def emulate_device(monkeypatch, cache_dir):
    """Makes the emulator ember's cuda device for a whole session (tests/conftest.py, under
    EMBER_EMULATE_CUDA=1): the GPU probe finds ``fake_cupy`` (so ``gpu_available()`` is True and the
    engine computes with it on device cuda), its kernels run emulated, and the C++/CUDA extension
    counts as not built (its launchers would need real device pointers). The Numba kernels stay
    unavailable: numba.cuda sees no GPU."""
    from ember.kernels.cuda import native

    def no_extension():
        raise ImportError("the CUDA host emulator runs no C++/CUDA extension")
    clear_glue_caches()
    monkeypatch.setattr(runtime, "_probe", lambda: (fake_cupy, None))
    monkeypatch.setattr(native, "extension", no_extension)
    _route_kernels(monkeypatch, cache_dir)
