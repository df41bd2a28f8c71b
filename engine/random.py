"""Random numbers: one seeded generator per device (cpu: NumPy's PCG64; cuda: ember's counter-based
uniform kernel, which a CUDA graph can hold, and CuPy's XORWOW for the other draws, on that GPU), as
``torch.manual_seed``. The cpu and cuda streams differ, as in PyTorch."""
import numpy as np

from .device import CPU, device as Device


def _entropy_seed():
    return int(np.random.SeedSequence().entropy % (2 ** 63))


class Generator:
    """A seeded source of random arrays on one device; ``manual_seed`` resets it."""

    def __init__(self, device="cpu", seed=None):
        self.device = Device(device)
        self.manual_seed(_entropy_seed() if seed is None else seed)

    def manual_seed(self, seed):
        self._seed = int(seed)
        if self.device.type == "cpu":
            self._rng = np.random.default_rng(self._seed)
            return self
        if _capturing():  # the new seed would be written inside the graph, and again at every replay
            raise RuntimeError("manual_seed: a generator cannot be seeded inside a CUDA-graph capture")
        from .device import backend_for
        cp = backend_for(self.device).xp
        with cp.cuda.Device(self.device.index or 0):
            self._rng = _CudaSource(cp.random.default_rng(self._seed), cp.full((), self._seed, cp.uint64),
                                    cp.zeros((), cp.uint64))
        return self

    def initial_seed(self):
        return self._seed

    def get_state(self):
        if self.device.type != "cpu":
            raise NotImplementedError(f"get_state of a {self.device} generator: reseed it with manual_seed")
        return self._rng.bit_generator.state

    def set_state(self, state):
        if self.device.type != "cpu":
            raise NotImplementedError(f"set_state of a {self.device} generator: reseed it with manual_seed")
        self._rng.bit_generator.state = state

    @property
    def source(self):
        """What draws the arrays: ``random``, ``standard_normal``, ``integers`` and ``uniform``, as NumPy's
        Generator has them."""
        return self._rng

    numpy = source  # the cpu generator's NumPy Generator, by its older name


class _CudaSource:
    """A cuda generator's draws: ``random`` (uniform in [0, 1): dropout, bernoulli, rand) from
    kernels/cuda/random.py's counter-based kernel, whose state lives on the GPU, so that a CUDA graph
    can hold it; the other draws from CuPy's generator, which a graph would make repeat, so outside a
    capture only."""

    def __init__(self, rng, seed, counter):
        self._rng, self._seed, self._counter = rng, seed, counter

    def random(self, size=None, dtype=np.float64):
        from ..kernels.cuda.random import counter_uniform
        shape = () if size is None else (size,) if isinstance(size, int) else tuple(size)
        return counter_uniform(shape, dtype, self._seed, self._counter)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if _capturing():
            raise RuntimeError(f"random numbers from {name} cannot be drawn inside a CUDA-graph capture (every "
                               f"replay would repeat them); uniform ones (dropout, bernoulli, rand) can")
        return getattr(self._rng, name)


default_generator = Generator()
_device_generators = {}   # cuda devices' default generators, made on first use
_last_seed = None         # what manual_seed last set, for device generators made after it


def default_generator_for(device):
    """The default generator of ``device`` (the cpu one, or one per GPU, seeded like the cpu one
    when ``manual_seed`` was called)."""
    device = Device(device)
    if device.type == "cpu":
        return default_generator
    if device.index is None:
        from .cuda import current_device
        device = Device("cuda", current_device())
    generator = _device_generators.get(device)
    if generator is None:
        generator = _device_generators[device] = Generator(device, _last_seed)
    return generator


def _capturing():
    from ..kernels.cuda import runtime
    return runtime.capturing()


def random_source(generator=None, device=None):
    """The generator to draw arrays on ``device`` from: ``generator``'s (which must live there) or
    the device's default one."""
    device = CPU if device is None else Device(device)
    if generator is None:
        return default_generator_for(device).source
    if generator.device.type != device.type:
        raise RuntimeError(f"Expected a '{device.type}' device type for generator but found "
                           f"'{generator.device.type}'")
    return generator.source


def manual_seed(seed):
    """Seed every device's default generator; returns the cpu generator."""
    global _last_seed
    _last_seed = int(seed)
    default_generator.manual_seed(seed)
    for generator in _device_generators.values():
        generator.manual_seed(seed)
    return default_generator


def seed():
    """Seed from OS entropy; returns the seed used."""
    value = _entropy_seed()
    manual_seed(value)
    return value


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def generator_numpy(generator=None):
    """The NumPy Generator to draw host arrays from: the given ember Generator's, or the default one."""
    return (generator or default_generator).numpy
