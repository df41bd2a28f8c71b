"""The ``cuda`` device: tensors hold CuPy arrays on an NVIDIA GPU, and every op runs through the same
code as on the cpu, with CuPy as the array module (``device.array_module``) and the registry's cuda
kernels. Importing this needs neither CuPy nor a GPU; using the device without them raises a clear
error with the reason (``ember.cuda.is_available()`` tells beforehand).

This module is ``ember.cuda``'s implementation: device queries, synchronisation, memory stats and
CUDA graphs (engine/cuda_graphs.py), as ``torch.cuda``.
"""
import contextlib
import functools

from ..kernels.cuda import runtime
from . import device as devices
from .cuda_graphs import CUDAGraph, graph, graph_pool_handle, is_current_stream_capturing, make_graphed_step

__all__ = ["is_available", "device_count", "current_device", "set_device", "device", "synchronize",
           "get_device_name", "get_device_capability", "memory_allocated", "max_memory_allocated",
           "memory_reserved", "reset_peak_memory_stats", "empty_cache", "manual_seed", "manual_seed_all",
           "CUDAGraph", "graph", "graph_pool_handle", "is_current_stream_capturing", "make_graphed_step"]


class _CudaBackend:
    """The device registry's view of CuPy (see engine/device.py for the backend protocol)."""

    @property
    def xp(self):
        return _initialised()

    @staticmethod
    def device_of(array):
        # by module name, so that asking about a foreign array never imports CuPy
        if type(array).__module__.startswith("cupy"):
            return devices.device("cuda", array.device.id)
        return None

    @staticmethod
    def to_device(array, dev):
        cp = _initialised()
        index = _index(dev)
        if isinstance(array, cp.ndarray) and array.device.id == index:
            return array
        with cp.cuda.Device(index):
            return cp.array(array, copy=True) if isinstance(array, cp.ndarray) else cp.asarray(array)

    @staticmethod
    def made_on(dev, make):
        cp = _initialised()
        with cp.cuda.Device(_index(dev)):
            return make(cp)

    @staticmethod
    def unavailable():
        if runtime.gpu_available():
            return None
        return f"ember's cuda backend needs CuPy and an NVIDIA GPU: {runtime.unusable_reason()}"


devices.register_backend("cuda", _CudaBackend())


class _MemoryStats:
    """Peak tracking over CuPy's memory pool, which keeps only current usage: every allocation
    passes through ``malloc`` (ember installs it as CuPy's allocator) and updates the device's peak."""

    def __init__(self, cp):
        self.pool = cp.get_default_memory_pool()
        self.peak = {}
        self._current_device = cp.cuda.runtime.getDevice

    def malloc(self, size):
        pointer = self.pool.malloc(size)
        index = self._current_device()
        self.peak[index] = max(self.peak.get(index, 0), self.pool.used_bytes())
        return pointer


@functools.cache
def _initialised():
    """CuPy, once per process set up for ember: the peak-tracking allocator installed."""
    cp = runtime.cupy()
    global _memory
    _memory = _MemoryStats(cp)
    cp.cuda.set_allocator(_memory.malloc)
    return cp


_memory = None


def _index(dev=None):
    """The GPU ordinal ``dev`` names (a device, 'cuda:1', an int, or None for the current one),
    checked against the devices present."""
    cp = _initialised()
    if dev is None or isinstance(dev, int):
        index = cp.cuda.runtime.getDevice() if dev is None else dev
    else:
        dev = devices.device(dev)
        if dev.type != "cuda":
            raise ValueError(f"Expected a cuda device, but got: {dev}")
        index = cp.cuda.runtime.getDevice() if dev.index is None else dev.index
    count = cp.cuda.runtime.getDeviceCount()
    if not 0 <= index < count:
        raise RuntimeError(f"CUDA error: invalid device ordinal {index} ({count} device(s) present)")
    return index


def is_available():
    """True when CuPy is installed and a CUDA GPU answers."""
    return runtime.gpu_available()


def device_count():
    """How many CUDA GPUs there are (0 without CuPy or a driver)."""
    return runtime.cupy().cuda.runtime.getDeviceCount() if runtime.gpu_available() else 0


def current_device():
    """The ordinal of the GPU that new cuda tensors go to."""
    return _index()


def set_device(dev):
    """Make ``dev`` (int, 'cuda:N' or a device) the current GPU."""
    _initialised().cuda.runtime.setDevice(_index(dev))


@contextlib.contextmanager
def device(dev):
    """``with ember.cuda.device(1): ...``: the current GPU inside the block."""
    with _initialised().cuda.Device(_index(dev)):
        yield


def synchronize(dev=None):
    """Wait until every kernel queued on the GPU has finished (timing needs this: launches return at once)."""
    _initialised().cuda.Device(_index(dev)).synchronize()


def get_device_name(dev=None):
    """The GPU's marketing name, e.g. 'NVIDIA H100 80GB HBM3'."""
    name = _initialised().cuda.runtime.getDeviceProperties(_index(dev))["name"]
    return name.decode() if isinstance(name, bytes) else name


def get_device_capability(dev=None):
    """(major, minor) compute capability, e.g. (9, 0) for an H100."""
    properties = _initialised().cuda.runtime.getDeviceProperties(_index(dev))
    return properties["major"], properties["minor"]


def memory_allocated(dev=None):
    """Bytes held by live cuda tensors (and CuPy temporaries) on the device."""
    cp = _initialised()
    with cp.cuda.Device(_index(dev)):
        return _memory.pool.used_bytes()


def max_memory_allocated(dev=None):
    """The most ``memory_allocated`` has been since the start or ``reset_peak_memory_stats``."""
    index = _index(dev)
    return max(_memory.peak.get(index, 0), memory_allocated(index))


def reset_peak_memory_stats(dev=None):
    index = _index(dev)
    _memory.peak[index] = memory_allocated(index)


def memory_reserved(dev=None):
    """Bytes CuPy's pool holds from the driver: allocated plus cached for reuse."""
    cp = _initialised()
    with cp.cuda.Device(_index(dev)):
        return _memory.pool.total_bytes()


def empty_cache():
    """Give cached, unused blocks back to the driver (live tensors are untouched)."""
    _initialised().get_default_memory_pool().free_all_blocks()


def manual_seed(seed):
    """Seed the current GPU's default generator."""
    from .random import default_generator_for
    default_generator_for(devices.device("cuda", current_device())).manual_seed(seed)


def manual_seed_all(seed):
    """Seed every GPU's default generator (``ember.manual_seed`` does this too)."""
    from .random import default_generator_for
    for index in range(device_count()):
        default_generator_for(devices.device("cuda", index)).manual_seed(seed)
