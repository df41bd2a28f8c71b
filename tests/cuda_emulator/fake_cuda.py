"""``cupy.cuda`` and ``cupy.random`` for fake_cupy.py: one emulated GPU (device 0), a memory pool that
counts the bytes of live device arrays (every allocation goes through the allocator, which
``cuda.set_allocator`` replaces, as in CuPy), streams and events that are always done, and
``random.default_rng``, a Generator whose draws are device arrays (NumPy's PCG64 stream: CuPy's XORWOW
gives other numbers, as ember's tests expect of a GPU)."""
import types
import weakref

import numpy as np

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


class _Pointer:
    """What the pool's ``malloc`` returns: while it lives, its bytes count as used."""

    def __init__(self, pool, size):
        self.size, self.ptr = size, id(self)
        pool._used += size
        weakref.finalize(self, pool._release, size)


class MemoryPool:
    def __init__(self):
        self._used = self._cached = 0

    def malloc(self, size):
        self._cached -= min(self._cached, size)  # a cached block serves it first
        return _Pointer(self, size)

    def _release(self, size):
        self._used -= size
        self._cached += size

    def used_bytes(self):
        return self._used

    def total_bytes(self):
        return self._used + self._cached

    def free_bytes(self):
        return self._cached

    def free_all_blocks(self):
        self._cached = 0


_pool = MemoryPool()
_allocator = [_pool.malloc]


def allocate(nbytes):
    """The pointer the current allocator gives for ``nbytes`` (fake_cupy.Allocation keeps it)."""
    return _allocator[0](nbytes)


def set_allocator(allocator=None):
    _allocator[0] = _pool.malloc if allocator is None else allocator


class _Stream:
    ptr = 0

    def synchronize(self):
        pass


class _Event:
    def record(self, stream=None):
        pass

    def synchronize(self):
        pass


def _set_device(index):
    _current[0] = _check(int(index))


runtime = types.SimpleNamespace(getDevice=lambda: _current[0], setDevice=_set_device,
                                getDeviceCount=lambda: DEVICE_COUNT,
                                getDeviceProperties=lambda index: dict(PROPERTIES) if _check(index) == 0 else None)
cuda = types.SimpleNamespace(Device=_Device, runtime=runtime, set_allocator=set_allocator,
                             get_allocator=lambda: _allocator[0], MemoryPool=MemoryPool,
                             get_current_stream=lambda: _Stream(), Stream=_Stream, Event=_Event,
                             get_elapsed_time=lambda start, stop: 0.0, is_available=lambda: True)


class Generator:
    """``cupy.random.Generator``'s draws ember takes, as device arrays."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def _draw(self, method, *args, **kwargs):
        from . import fake_cupy
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
