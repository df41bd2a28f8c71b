"""``ember.cuda``: the GPU as ``torch.cuda`` shows it (availability, devices, synchronisation,
memory stats, seeding). Tensors move there with ``.to("cuda")``; see engine/cuda.py."""
from .engine.cuda import *  # noqa: F401,F403
from .engine.cuda import __all__  # noqa: F401
