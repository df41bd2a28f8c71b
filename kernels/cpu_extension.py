"""Loading ember's compiled CPU kernels (``ember.kernels._cpu``, built by setup.py via CMake)."""
import os

_REQUIRED = os.environ.get("EMBER_REQUIRE_EXTENSION") == "1"


def load():
    """The ``_cpu`` module, or ImportError saying why it is missing."""
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
