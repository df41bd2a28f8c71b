"""Devices and the array module (NumPy for ``cpu``) that computes on each.

The GPU backend plugs in here: ``register_backend("cuda", ...)`` makes ``cuda`` devices usable.
Until one is registered, asking for ``cuda`` raises a clear error.
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

# device type -> backend object with .xp (array module), .device_of(array), .to_device(array, device)
_backends = {}


class _NumpyBackend:
    xp = np

    @staticmethod
    def device_of(array):
        return CPU if isinstance(array, np.ndarray) else None

    @staticmethod
    def to_device(array, dev):
        return np.asarray(array)


_backends["cpu"] = _NumpyBackend


def register_backend(device_type, backend):
    """Make a device type usable; the GPU backend calls this when CuPy and a GPU are present."""
    _backends[device_type] = backend


def backend_for(dev):
    """The backend of a device, or a clear error if that device has none in this installation."""
    dev = dev if isinstance(dev, device) else device(dev)
    backend = _backends.get(dev.type)
    if backend is None:
        raise RuntimeError(f"device '{dev}' is not available: ember's {dev.type} backend is not "
                           f"installed or no {dev.type} device was found (install the GPU extra: "
                           f"pip install -e .[cuda])")
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


def array_module(array):
    """NumPy for host arrays; the registered backend's module (e.g. CuPy) otherwise."""
    if type(array) is np.ndarray:
        return np
    return backend_for(device_of(array)).xp
