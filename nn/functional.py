"""``ember.nn.functional``: the functional forms of layers and losses (PyTorch's ``torch.nn.functional``)."""
from ..engine.ops import *  # noqa: F401,F403
from ..engine.ops import __all__  # noqa: F401
