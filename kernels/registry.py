"""The kernel registry: ``(op, device)`` -> named implementations in preference order.

Kernels take and return raw arrays (NumPy or CuPy) and plain numbers; nothing here knows about
Tensor or autograd. An implementation that cannot load (no compiled extension, no GPU) is skipped,
and the reason is kept for ``available()``. ``use(op="name")`` forces one implementation.
"""
import contextlib

import numpy as np


class Implementation:
    __slots__ = ("name", "loader", "function", "reason")

    def __init__(self, name, loader):
        self.name = name
        self.loader = loader      # () -> callable, or raises ImportError/RuntimeError with the reason
        self.function = None
        self.reason = None

    def load(self):
        if self.function is None and self.reason is None:
            try:
                self.function = self.loader()
            except (ImportError, RuntimeError, AttributeError, OSError) as error:
                self.reason = str(error) or type(error).__name__
        return self.function


_implementations = {}   # (op, device) -> [Implementation, ...] best first
_forced = {}            # op -> implementation name
_resolved = {}          # (op, device) -> callable: the cache dispatch reads


def register(op, device, name, loader):
    """Add an implementation of ``op`` on ``device`` ('cpu' or 'cuda'), after those registered
    before it (so register the preferred one first). ``loader()`` returns the kernel callable."""
    _implementations.setdefault((op, device), []).append(Implementation(name, loader))
    _resolved.clear()


def _device_type(array):
    return "cpu" if isinstance(array, np.ndarray) else "cuda"


def _forced_name(op):
    """The implementation forced for ``op``: by its own name, or by a kernel name it starts with
    (``use(conv2d="numpy")`` covers conv2d_forward, conv2d_backward_input, ...); the longest wins."""
    matches = [key for key in _forced if op == key or op.startswith(key + "_")]
    return _forced[max(matches, key=len)] if matches else None


def _resolve(op, device):
    candidates = _implementations.get((op, device))
    if not candidates:
        raise NotImplementedError(f"no kernel is registered for '{op}' on {device}")
    forced = _forced_name(op)
    for impl in candidates:
        if forced is not None and impl.name != forced:
            continue
        function = impl.load()
        if function is not None:
            return function
        if forced is not None:
            raise RuntimeError(f"kernel '{op}' implementation '{forced}' is unavailable on {device}: "
                               f"{impl.reason}")
    if forced is not None:
        names = [impl.name for impl in candidates]
        raise RuntimeError(f"kernel '{op}' has no implementation '{forced}' on {device} (has {names})")
    raise RuntimeError(f"no available implementation of '{op}' on {device}: " +
                       "; ".join(f"{impl.name}: {impl.reason}" for impl in candidates))


def dispatch(op, array):
    """The kernel that serves ``op`` for arrays like ``array`` (its device decides)."""
    key = (op, _device_type(array))
    function = _resolved.get(key)
    if function is None:
        function = _resolved[key] = _resolve(*key)
    return function


def implementation(op, device, name):
    """One named implementation's callable (for tests and benchmarks that race them)."""
    for impl in _implementations.get((op, device), ()):
        if impl.name == name:
            function = impl.load()
            if function is None:
                raise RuntimeError(f"kernel '{op}' implementation '{name}' is unavailable: {impl.reason}")
            return function
    raise KeyError(f"no implementation '{name}' of '{op}' on {device}")


def available():
    """For every op and device: the implementation in use and why each other one is not.

    Returns ``{op: {device: {"using": name or None, "implementations": {name: "available" |
    "unavailable: <reason>"}}}}``.
    """
    report = {}
    for (op, device), candidates in sorted(_implementations.items()):
        entry = {"using": None, "implementations": {}}
        for impl in candidates:
            function = impl.load()
            if function is not None:
                entry["implementations"][impl.name] = "available"
                if entry["using"] is None and (_forced_name(op) or impl.name) == impl.name:
                    entry["using"] = impl.name
            else:
                entry["implementations"][impl.name] = f"unavailable: {impl.reason}"
        report.setdefault(op, {})[device] = entry
    return report


def names(op, device):
    """Names of the available implementations of ``op`` on ``device``, best first."""
    return [impl.name for impl in _implementations.get((op, device), ()) if impl.load() is not None]


@contextlib.contextmanager
def use(**choices):
    """Force implementations inside a ``with`` block: ``with use(erf="numpy"): ...``. A name
    covers every op it prefixes: ``use(conv2d="numpy")`` forces conv2d_forward, conv2d_backward_input
    and conv2d_backward_weight."""
    previous = dict(_forced)
    _forced.update(choices)
    _resolved.clear()
    try:
        yield
    finally:
        _forced.clear()
        _forced.update(previous)
        _resolved.clear()
