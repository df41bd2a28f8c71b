"""Comparisons and logic: results are bool tensors and carry no gradient."""
import numpy as np

from ..device import array_module
from ..tensor import Tensor
from .operands import broadcast_error, check_operand, check_same_device, promote

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
           "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isinf",
           "isfinite", "isclose", "allclose", "equal", "bitwise_and", "bitwise_or", "bitwise_xor",
           "bitwise_not"]


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


def comparison_op(name, ufunc_name, promote_operands=True):
    """A non-differentiable elementwise op of two operands, computed by the ufunc of that name."""

    def op(input, other):
        operands = promote(name, input, other) if promote_operands else \
            [check_operand(x, name, i) for i, x in enumerate((input, other))]
        check_same_device(name, *operands)
        a, b = (_raw(x) for x in operands)
        xp = array_module(a if isinstance(operands[0], Tensor) else b)
        try:
            return Tensor(xp.asarray(getattr(xp, ufunc_name)(a, b)))
        except ValueError:
            raise broadcast_error(name, np.shape(a), np.shape(b)) from None

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (no gradient). Shapes broadcast; result is bool."
    return op


def _predicate(name, compute):
    def op(input):
        xp = array_module(input._data)
        return Tensor(xp.asarray(compute(xp, input._data)))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (no gradient). Shape: (*) -> (*), bool."
    return op


eq = comparison_op("eq", "equal")
ne = not_equal = comparison_op("ne", "not_equal")
lt = less = comparison_op("lt", "less")
le = less_equal = comparison_op("le", "less_equal")
gt = greater = comparison_op("gt", "greater")
ge = greater_equal = comparison_op("ge", "greater_equal")
logical_and = comparison_op("logical_and", "logical_and", promote_operands=False)
logical_or = comparison_op("logical_or", "logical_or", promote_operands=False)
logical_xor = comparison_op("logical_xor", "logical_xor", promote_operands=False)
bitwise_and = comparison_op("bitwise_and", "bitwise_and")
bitwise_or = comparison_op("bitwise_or", "bitwise_or")
bitwise_xor = comparison_op("bitwise_xor", "bitwise_xor")

logical_not = _predicate("logical_not", lambda xp, x: xp.logical_not(x))
bitwise_not = _predicate("bitwise_not", lambda xp, x: xp.invert(x))
isnan = _predicate("isnan", lambda xp, x: xp.isnan(x))
isinf = _predicate("isinf", lambda xp, x: xp.isinf(x))
isfinite = _predicate("isfinite", lambda xp, x: xp.isfinite(x))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|input - other| <= atol + rtol * |other|`` elementwise (no gradient), bool."""
    a, b = (_raw(x) for x in promote("isclose", input, other))
    return Tensor(array_module(a).asarray(array_module(a).isclose(a, b, rtol, atol, equal_nan)))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True if every element is close (see ``isclose``)."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def equal(input, other):
    """True if both tensors have the same shape and elements."""
    return input.shape == other.shape and bool((input._data == other._data).all())


def _bool_check(op_name, method):
    def checked(self, other):
        if self._data.dtype != np.bool_ and self._data.dtype.kind not in "iu":
            raise TypeError(f"{op_name}: bitwise/logical operators need bool or integer tensors, "
                            f"got {self.dtype}")
        return method(self, other)
    return checked


Tensor.__eq__, Tensor.__ne__ = eq, ne
Tensor.__lt__, Tensor.__le__, Tensor.__gt__, Tensor.__ge__ = lt, le, gt, ge
Tensor.__and__ = Tensor.__rand__ = _bool_check("&", bitwise_and)
Tensor.__or__ = Tensor.__ror__ = _bool_check("|", bitwise_or)
Tensor.__xor__ = Tensor.__rxor__ = _bool_check("^", bitwise_xor)
Tensor.__invert__ = bitwise_not
Tensor.__hash__ = object.__hash__
for _name in __all__:
    setattr(Tensor, _name, globals()[_name])
