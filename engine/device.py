"""Devices and the array module that computes on each: NumPy for ``cpu``, CuPy for ``cuda``.

A backend is an object with ``xp`` (the array module), ``device_of(array)`` (the device holding an
array of its kind, or None), ``to_device(array, device)`` and ``unavailable()`` (None, or why the
device cannot be used here). engine/cuda.py registers the cuda backend; asking for a device whose
backend is unavailable raises a clear error with the reason.
"""
import numpy as np


class device:
    """A device, as in PyTorch: ``device("cpu")``, ``device("cuda:1")``, ``device("cuda", 1)``."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        elif ":" in type:
            type, _, idx = type.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}:{idx}'")
            index = int(idx)
        if type not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        self.type = type
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


CPU = device("cpu")

# device type -> backend object with .xp (array module), .device_of(array), .to_device(array, device),
# .made_on(device, make) (``make(xp)`` run with that device current: an array made there) and .unavailable()
_backends = {}


class _NumpyBackend:
    xp = np

    @staticmethod
    def device_of(array):
        return CPU if isinstance(array, np.ndarray) else None

    @staticmethod
    def to_device(array, dev):
        # a device array copies itself to the host (CuPy refuses an implicit np.asarray)
        return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)

    @staticmethod
    def made_on(dev, make):
        return make(np)

    @staticmethod
    def unavailable():
        return None


_backends["cpu"] = _NumpyBackend


def register_backend(device_type, backend):
    """Make a device type known; engine/cuda.py registers ``cuda`` (usable or not, it says why)."""
    _backends[device_type] = backend
    _modules_by_type.clear()


def backend_for(dev):
    """The backend of a device, or a clear error if that device cannot be used here."""
    dev = dev if isinstance(dev, device) else device(dev)
    backend = _backends.get(dev.type)
    reason = "no backend is registered" if backend is None else backend.unavailable()
    if reason is not None:
        raise RuntimeError(f"device '{dev}' is not available: {reason}")
    return backend


def device_of(array):
    """The device an array lives on."""
    if type(array) is np.ndarray:
        return CPU
    for backend in _backends.values():
        dev = backend.device_of(array)
        if dev is not None:
            return dev
    raise TypeError(f"ember cannot tell which device holds an array of type {type(array).__name__}")


_modules_by_type = {}  # array type -> its array module: array_module runs on every op


def array_module(array):
    """NumPy for host arrays; the registered backend's module (e.g. CuPy) otherwise."""
    if type(array) is np.ndarray:
        return np
    module = _modules_by_type.get(type(array))
    if module is None:
        module = _modules_by_type[type(array)] = backend_for(device_of(array)).xp
    return module
