"""``cupy.cuda`` and ``cupy.random`` for fake_cupy.py: one emulated GPU (device 0), memory pools that
count the bytes of live device arrays (every allocation goes through the allocator, which
``cuda.set_allocator`` replaces and ``cuda.using_allocator`` overrides in a block, as in CuPy), the
streams, events and graph capture of capture.py, and ``random.default_rng``, a Generator whose draws are
device arrays (NumPy's PCG64 stream: CuPy's XORWOW gives other numbers, as ember's tests expect of a
GPU)."""
import collections
import contextlib
import threading
import types
import weakref

import numpy as np

from . import capture

DEVICE_COUNT = 1
PROPERTIES = {"name": b"Emulated GPU (tests/cuda_emulator)", "major": 9, "minor": 0, "totalGlobalMem": 80 * 2**30,
              "multiProcessorCount": 132, "maxThreadsPerBlock": 1024}
_current = [0]


class _Device:
    """``cupy.cuda.Device(i)``: ``id``; entering it makes it current."""

    def __init__(self, device=None):
        self.id = _current[0] if device is None else int(device)
        self._previous = []

    def __enter__(self):
        _check(self.id)
        self._previous.append(_current[0])
        _current[0] = self.id
        return self

    def __exit__(self, *exc):
        _current[0] = self._previous.pop()

    def synchronize(self):
        _check(self.id)
        capture.refuse_device_wide("cupy.cuda.Device.synchronize")

    def use(self):
        _current[0] = _check(self.id)

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


def _check(index):
    if not 0 <= index < DEVICE_COUNT:
        raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {index} (emulated)")
    return index


def current_device():
    return _Device(_current[0])


class _Block:
    """What a graph knows of a pool's block (capture.py): the pool and arena (the stream it was allocated
    on) it goes back to when freed, and ``freed_at``, how many allocations that arena had served then."""

    def __init__(self, pool, arena):
        self.pool, self.arena, self.freed_at = pool, arena, None

    def served(self):
        return self.pool._served[self.arena]

    def reused_after(self, served):
        """Whether the block, freed, may have gone to an allocation made after its arena had served ``served``."""
        return self.freed_at is not None and self.served() > max(self.freed_at, served)


class _Pointer:
    """What the pool's ``malloc`` returns: while it lives, its bytes count as used."""

    def __init__(self, pool, size):
        self.size, self.ptr = size, id(self)
        self.block = _Block(pool, pool._arena())
        pool._served[self.block.arena] += 1
        pool._used += size
        weakref.finalize(self, pool._release, size, self.block)


class MemoryPool:
    """CuPy's memory pool, counting bytes. Like CuPy's it keeps an arena per stream: a freed block serves
    only later allocations on the stream it was allocated on (``_served`` counts them, for capture.py)."""

    def __init__(self, allocator=None):
        self._used = self._cached = 0
        self._served = collections.Counter()  # arena -> allocations served

    def _arena(self):
        return capture.current_stream().ptr

    def malloc(self, size):
        self._cached -= min(self._cached, size)  # a cached block serves it first
        return _Pointer(self, size)

    def _release(self, size, block):
        self._used -= size
        self._cached += size
        block.freed_at = self._served[block.arena]

    def used_bytes(self):
        return self._used

    def total_bytes(self):
        return self._used + self._cached

    def free_bytes(self):
        return self._cached

    def free_all_blocks(self, stream=None):
        self._cached = 0


class _DeviceMemory(MemoryPool):
    """cudaMalloc and cudaFree, CuPy's allocator without a pool (``using_allocator(None)``): freed memory
    may go to any later allocation, whatever its stream."""

    def _arena(self):
        return None


_pool, _device_memory = MemoryPool(), _DeviceMemory()
_allocator = [_pool.malloc]  # set_allocator's
_local = threading.local()   # .allocator: using_allocator's, in this thread


def get_allocator():
    local = getattr(_local, "allocator", None)
    return _allocator[0] if local is None else local


def allocate(nbytes):
    """The pointer the current allocator gives for ``nbytes`` (fake_cupy.Allocation keeps it)."""
    return get_allocator()(nbytes)


def set_allocator(allocator=None):
    if getattr(_local, "allocator", None) is not None:
        raise ValueError("Can't change the global allocator inside `using_allocator` context manager")
    _allocator[0] = _pool.malloc if allocator is None else allocator


@contextlib.contextmanager
def using_allocator(allocator=None):
    """Allocations in this thread go through ``allocator`` inside the block (CuPy's raw cudaMalloc for
    None), as CuPy's."""
    previous = getattr(_local, "allocator", None)
    _local.allocator = _device_memory.malloc if allocator is None else allocator
    try:
        yield
    finally:
        _local.allocator = previous


def _set_device(index):
    _current[0] = _check(int(index))


runtime = types.SimpleNamespace(getDevice=lambda: _current[0], setDevice=_set_device,
                                getDeviceCount=lambda: DEVICE_COUNT,
                                getDeviceProperties=lambda index: dict(PROPERTIES) if _check(index) == 0 else None,
                                CUDARuntimeError=capture.CUDARuntimeError, streamCaptureModeRelaxed=capture.RELAXED)
graph = types.SimpleNamespace(Graph=capture.Graph)
cuda = types.SimpleNamespace(Device=_Device, runtime=runtime, set_allocator=set_allocator,
                             get_allocator=get_allocator, using_allocator=using_allocator, MemoryPool=MemoryPool,
                             get_current_stream=lambda device_id=-1: capture.current_stream(), Stream=capture.Stream,
                             Event=capture.Event, get_elapsed_time=capture.get_elapsed_time, Graph=capture.Graph,
                             graph=graph, is_available=lambda: True)


class Generator:
    """``cupy.random.Generator``'s draws ember takes, as device arrays."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def _draw(self, method, *args, **kwargs):
        from . import fake_cupy
        capture.refuse(f"cupy.random.Generator.{method} (cuRAND)")
        return fake_cupy._wrap(getattr(self._rng, method)(*args, **kwargs))

    def random(self, size=None, dtype=np.float64, out=None):
        return self._draw("random", size, dtype)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._draw("standard_normal", size, dtype)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._draw("integers", low, high, size, dtype, endpoint)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return self._draw("uniform", low, high, size).astype(dtype, copy=False)


random = types.SimpleNamespace(default_rng=Generator, Generator=Generator)
MODULE_ATTRIBUTES = {"cuda": cuda, "random": random, "get_default_memory_pool": lambda: _pool}
