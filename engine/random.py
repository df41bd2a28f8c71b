"""Random numbers: one seeded generator per device (cpu: NumPy's PCG64), as ``torch.manual_seed``."""
import numpy as np


def _entropy_seed():
    return int(np.random.SeedSequence().entropy % (2 ** 63))


class Generator:
    """A seeded source of random arrays; ``manual_seed`` resets it."""

    def __init__(self, device="cpu", seed=None):
        self.device = device
        self.manual_seed(_entropy_seed() if seed is None else seed)

    def manual_seed(self, seed):
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state):
        self._rng.bit_generator.state = state

    @property
    def numpy(self):
        return self._rng


default_generator = Generator()
_seed_hooks = []  # other devices' generators register here so manual_seed reaches them


def manual_seed(seed):
    """Seed every device's default generator; returns the cpu generator."""
    default_generator.manual_seed(seed)
    for hook in _seed_hooks:
        hook(int(seed))
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
    """The NumPy Generator to draw from: the given ember Generator's, or the default one."""
    return (generator or default_generator).numpy
