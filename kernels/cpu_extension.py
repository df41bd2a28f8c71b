"""Loading ember's compiled CPU kernels (``ember.kernels._cpu``, built by setup.py via CMake).

Environment:
    EMBER_DISABLE_EXTENSION=1   run on the NumPy kernels only, as if the extension were not built
    EMBER_REQUIRE_EXTENSION=1   fail at import when it is missing (CI: a broken build must not pass)
"""
import os

_DISABLED = os.environ.get("EMBER_DISABLE_EXTENSION") == "1"
_REQUIRED = os.environ.get("EMBER_REQUIRE_EXTENSION") == "1" and not _DISABLED


def load():
    """The ``_cpu`` module, or ImportError saying why it is missing."""
    if _DISABLED:
        raise ImportError("the C++ extension is disabled by EMBER_DISABLE_EXTENSION=1")
    # OpenMP workers that spin after a parallel region steal the core from NumPy's OpenBLAS threads
    # (and the other way round): measured here, alternating a GEMM and an OpenMP kernel ran 5x
    # slower than either alone. Idle workers must sleep; libgomp reads this when it loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from . import _cpu
    except ImportError as error:
        raise ImportError(f"the C++ extension ember.kernels._cpu is not built ({error}); "
                          f"reinstall with `pip install -e .` and a C++ compiler") from None
    return _cpu


def kernel(name):
    """A loader for one function of the extension, for ``registry.register``."""
    def loader():
        return getattr(load(), name)
    return loader


def check_required():
    """CI sets EMBER_REQUIRE_EXTENSION=1 so a failed build cannot pass silently on the NumPy path."""
    if _REQUIRED:
        load()
