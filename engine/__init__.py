"""The engine: Tensor, autograd and every op. Imports nothing of ember.nn."""
from . import dtypes
from .tensor import Size, Tensor
from .function import Function, once_differentiable
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from . import autograd
from . import cuda  # registers the cuda device
from .creation import *  # noqa: F401,F403
from .creation import __all__ as _creation_all
from . import ops
from .ops import TOP_LEVEL as _ops_all

globals().update({name: getattr(ops, name) for name in _ops_all})

__all__ = ["Size", "Tensor", "Function", "once_differentiable", "enable_grad", "is_grad_enabled",
           "no_grad", "set_grad_enabled"] + _creation_all + _ops_all
