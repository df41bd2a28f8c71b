"""Every op of the engine, by family; each family module binds its Tensor methods when imported."""
from . import (activations, comparison, conversion, elementwise, indexing, inplace, linalg, losses,
               nn_ops, reduction, shape)

FAMILIES = (conversion, elementwise, activations, comparison, reduction, linalg, shape, indexing,
            nn_ops, losses)

__all__ = [name for family in FAMILIES for name in family.__all__]
globals().update({name: getattr(family, name) for family in FAMILIES for name in family.__all__})
