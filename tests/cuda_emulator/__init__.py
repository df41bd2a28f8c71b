"""The CUDA host emulator: ember's CUDA kernels compiled for the host by g++ and launched by the real
CuPy glue of kernels/cuda/ through a NumPy-backed fake of CuPy (fake_cupy.py). A RawModule's source,
kernels/cuda/<family>.cu, builds behind a shim of CUDA's builtins (shim.h) into a library per family
(build.py) whose launches a scheduler of fiber threads runs (emulator.cpp, raw_kernels.py); an
ElementwiseKernel's or ReductionKernel's operation becomes a host loop (elementwise.py).
tests/test_cuda_emulator.py says what this proves and what it cannot.
"""
import importlib
import pkgutil

import ember.kernels.cuda
from ember.kernels.cuda import runtime

from . import elementwise, fake_cupy, raw_kernels


def clear_glue_caches():
    """Empties the functools caches of ember.kernels.cuda's modules (the kernels they compiled): an
    emulated kernel must not outlive its test, nor a CuPy one serve in it. Call it after the test."""
    for info in pkgutil.iter_modules(ember.kernels.cuda.__path__):
        for value in vars(importlib.import_module(f"ember.kernels.cuda.{info.name}")).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def install(monkeypatch, cache_dir):
    """Routes the CUDA glue to the emulator for one test: ``runtime.cupy()`` returns ``fake_cupy`` and
    ``runtime.raw_module(family, names)`` an emulated module; kernels are built into ``cache_dir`` on
    first use. The launches' schedules restart, so that a test runs the same way alone or among others."""
    clear_glue_caches()
    raw_kernels.restart_schedules()
    monkeypatch.setattr(elementwise, "cache_dir", cache_dir)
    monkeypatch.setattr(runtime, "cupy", lambda: fake_cupy)
    monkeypatch.setattr(runtime, "raw_module",
                        lambda family, name_expressions=(): raw_kernels.raw_module(family, name_expressions,
                                                                                   cache_dir=cache_dir))
