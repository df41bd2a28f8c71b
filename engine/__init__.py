"""The engine: Tensor, autograd and every op. Imports nothing of ember.nn."""
from . import dtypes
from .tensor import Size, Tensor
from .function import Function, once_differentiable
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from . import autograd
from .creation import *  # noqa: F401,F403
from .ops import *       # noqa: F401,F403
