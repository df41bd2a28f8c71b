"""``ember.functional``: every op as a function, PyTorch names (also reachable as ``ember.nn.functional``)."""
from .engine.ops import *  # noqa: F401,F403
from .engine.ops import __all__  # noqa: F401
