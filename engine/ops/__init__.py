"""Every op of the engine, by family; each family module binds its Tensor methods when imported.

``__all__`` is every op (``ember.functional`` and ``ember.nn.functional``); ``TOP_LEVEL`` is what
``ember`` itself exports, as ``torch`` does: the core families plus the few nn ops that PyTorch
also has at the top with the same signature.
"""
from . import (activations, attention, comparison, conversion, conv, elementwise, indexing, inplace,
               linalg, losses, nn_ops, normalization, pooling, reduction, shape)
from ..tensor import Tensor
from ..autocast_mode import wrap_listed_ops

# Ops on PyTorch's autocast lists cast their inputs inside ember.autocast: wrapped here, before
# anything outside this package imports them.
wrap_listed_ops(__name__, Tensor)

FAMILIES = (conversion, elementwise, activations, comparison, reduction, linalg, shape, indexing,
            nn_ops, losses, conv, pooling, normalization, attention)
CORE_FAMILIES = (conversion, elementwise, comparison, reduction, linalg, shape, indexing)

__all__ = [name for family in FAMILIES for name in family.__all__]
_NN_ONLY = {"pad", "one_hot"}  # torch.nn.functional only
TOP_LEVEL = [name for family in CORE_FAMILIES for name in family.__all__ if name not in _NN_ONLY] + [
    "relu", "relu_", "selu", "selu_", "celu", "celu_", "prelu", "softmax", "log_softmax",
    "cosine_similarity"]
globals().update({name: getattr(family, name) for family in FAMILIES for name in family.__all__})
