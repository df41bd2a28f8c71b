"""ember: a from-scratch reverse-mode autodiff engine with its own kernels.

    import ember
    x = ember.randn(3, 4, requires_grad=True)
    (x.tanh() ** 2).sum().backward()
    x.grad            # d/dx of sum(tanh(x)^2)
"""
import os as _os

# NumPy's OpenBLAS workers spin for about 0.1 s after each GEMM (2^28 cycles, OpenBLAS's default),
# holding the core that ember's OpenMP kernels want next: measured here, a LeNet conv forward took 8 ms
# that way and 1 ms with the workers sleeping at once. OpenBLAS reads this when NumPy first loads it,
# so it helps when ember is imported before NumPy (as the ember command and its workers do).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .engine import dtypes as _dtypes  # noqa: E402
from .engine import *  # noqa: F401,F403  (Tensor, creation functions and every op)
from .engine import Function, Size, Tensor, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .engine.device import device
from .engine.dtypes import get_default_dtype, set_default_dtype, promote_types, result_type
from .engine.random import (Generator, default_generator, get_rng_state, initial_seed, manual_seed,
                            seed, set_rng_state)
from .engine.ops import TOP_LEVEL as _ops_all
from .engine.creation import __all__ as _creation_all
from . import amp, autograd, cuda, data, functional, kernels, nn, optim, viz
from .amp import autocast
from .serialization import *  # noqa: F401,F403
from . import models  # noqa: E402  (the zoo builds on nn)
from . import distributed  # noqa: E402  (data parallelism builds on nn; imports mpi4py only when used)

dtype = _dtypes.dtype
bool = _dtypes.bool_  # noqa: A001 (PyTorch's name)
uint8, int8, int16, int32, int64 = _dtypes.uint8, _dtypes.int8, _dtypes.int16, _dtypes.int32, _dtypes.int64
float16, float32, float64 = _dtypes.float16, _dtypes.float32, _dtypes.float64
half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64            # noqa: A001


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


__version__ = "0.1.0"
__all__ = (["Tensor", "Size", "Function", "device", "dtype", "no_grad", "enable_grad", "set_grad_enabled",
            "is_grad_enabled", "manual_seed", "is_tensor", "autograd", "functional", "nn", "kernels", "amp",
            "autocast"]
           + _creation_all + _ops_all)


def __getattr__(name):
    # ember.compress and ember.tune load on first use: most programs never need them
    if name in ("compress", "tune"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'ember' has no attribute '{name}'")
