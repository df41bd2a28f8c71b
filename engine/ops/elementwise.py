"""Elementwise math, forward and derivative side by side, in the spirit of PyTorch's derivatives.yaml.

Most ops here are one line of a table: ``name = unary_op(name, forward, derivative)``, where
``forward(xp, x)`` computes on raw arrays through the array module ``xp`` (NumPy or CuPy) and
``derivative(x, y)`` gives dy/dx in Tensor ops from the input ``x`` and output ``y``. Backward is
``grad * derivative(x, y)``; being made of Tensor ops, it is itself differentiable.
"""
import math

import numpy as np

from ..device import array_module
from ..function import Function
from ..tensor import Tensor
from .inplace import bind_inplace_methods
from .operands import apply_binary, apply_broadcasting, promote

__all__ = ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
           "remainder", "neg", "negative", "pow", "reciprocal", "abs", "sign", "exp", "exp2", "log",
           "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "square", "sin", "cos", "tan", "tanh",
           "sigmoid", "erf", "floor", "ceil", "round", "trunc", "clamp", "clip", "maximum", "minimum",
           "where", "lerp", "positive"]


def _unary_function(name, forward, derivative):
    """Build the Function of an elementwise op ``y = f(x)`` from f and dy/dx."""

    def forward_(ctx, x):
        y = forward(array_module(x), x)
        ctx.save_for_backward(x, y)
        return y

    def backward_(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * derivative(x, y)

    cls = type(name.capitalize(), (Function,),
               {"forward": staticmethod(forward_), "backward": staticmethod(backward_)})
    return cls


def unary_op(name, forward, derivative, floating=True, doc=""):
    """An elementwise op ``name(input) -> Tensor`` (same shape). Integer inputs of ops that need
    floats are computed in the default float dtype, as PyTorch does."""
    function = _unary_function(name, forward, derivative)

    def op(input):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        if floating and input._data.dtype.kind in "biu":
            input = input.float()
        return function.apply(input)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc or f"Elementwise {name}. Shape: (*) -> (*)."
    op.function = function
    return op


def _zero(x, y):
    return x * 0  # piecewise-constant ops: zero gradient, with the input's shape


_SQRT_2_OVER_PI = 2.0 / math.sqrt(math.pi)

neg = unary_op("neg", lambda xp, x: xp.negative(x), lambda x, y: -1.0, floating=False)
positive = unary_op("positive", lambda xp, x: x.copy(), lambda x, y: 1.0, floating=False)
abs = unary_op("abs", lambda xp, x: xp.abs(x), lambda x, y: sign(x), floating=False)
sign = unary_op("sign", lambda xp, x: xp.sign(x), _zero, floating=False)
reciprocal = unary_op("reciprocal", lambda xp, x: 1 / x, lambda x, y: -y * y)          # -1/x^2
exp = unary_op("exp", lambda xp, x: xp.exp(x), lambda x, y: y)
exp2 = unary_op("exp2", lambda xp, x: xp.exp2(x), lambda x, y: y * math.log(2.0))
expm1 = unary_op("expm1", lambda xp, x: xp.expm1(x), lambda x, y: y + 1)
log = unary_op("log", lambda xp, x: xp.log(x), lambda x, y: x.reciprocal())
log2 = unary_op("log2", lambda xp, x: xp.log2(x), lambda x, y: (x * math.log(2.0)).reciprocal())
log10 = unary_op("log10", lambda xp, x: xp.log10(x), lambda x, y: (x * math.log(10.0)).reciprocal())
log1p = unary_op("log1p", lambda xp, x: xp.log1p(x), lambda x, y: (x + 1).reciprocal())
sqrt = unary_op("sqrt", lambda xp, x: xp.sqrt(x), lambda x, y: 0.5 / y)
rsqrt = unary_op("rsqrt", lambda xp, x: 1 / xp.sqrt(x), lambda x, y: -0.5 * y * y * y)  # -x^(-3/2)/2
square = unary_op("square", lambda xp, x: x * x, lambda x, y: 2 * x, floating=False)
sin = unary_op("sin", lambda xp, x: xp.sin(x), lambda x, y: cos(x))
cos = unary_op("cos", lambda xp, x: xp.cos(x), lambda x, y: -sin(x))
tan = unary_op("tan", lambda xp, x: xp.tan(x), lambda x, y: 1 + y * y)
tanh = unary_op("tanh", lambda xp, x: xp.tanh(x), lambda x, y: 1 - y * y)
def _sigmoid_forward(xp, x):
    # 1 / (1 + e^-x): e^-x overflows to inf for very negative x, and 1 / inf = 0 is the right limit
    with np.errstate(over="ignore"):
        denominator = xp.asarray(xp.exp(-x))  # NumPy gives 0-d inputs a scalar: make it an array
    denominator += 1
    return xp.reciprocal(denominator, out=denominator)


sigmoid = unary_op("sigmoid", _sigmoid_forward, lambda x, y: y * (1 - y))
floor = unary_op("floor", lambda xp, x: xp.floor(x), _zero, floating=False)
ceil = unary_op("ceil", lambda xp, x: xp.ceil(x), _zero, floating=False)
trunc = unary_op("trunc", lambda xp, x: xp.trunc(x), _zero, floating=False)


def _erf_forward(xp, x):
    from ... import kernels
    if x.dtype.itemsize < 4:  # kernels take float32/float64: compute half precision in float32
        return kernels.dispatch("erf", x)(x.astype(xp.float32)).astype(x.dtype)
    return kernels.dispatch("erf", x)(x)


erf = unary_op("erf", _erf_forward, lambda x, y: _SQRT_2_OVER_PI * exp(-x * x))  # 2/sqrt(pi) e^(-x^2)


class _Round(Function):
    @staticmethod
    def forward(ctx, x, decimals):
        ctx.shape = x.shape
        return array_module(x).round(x, decimals)

    @staticmethod
    def backward(ctx, grad):
        return grad * 0, None


def round(input, decimals=0):
    """Round half to even, like PyTorch. Shape: (*) -> (*)."""
    return _Round.apply(input, decimals)


# ---- binary ops --------------------------------------------------------------------------------

def _binary_function(name, forward, derivative_a, derivative_b):
    """Build the Function of ``out = f(a, b)`` from f and its partial derivatives (Tensor ops of
    a, b, out; either operand may be a Python number)."""

    def forward_(ctx, a, b):
        out = forward(array_module(a if hasattr(a, "dtype") else b), a, b)
        ctx.save_for_backward(a, b, out)
        return out

    def backward_(ctx, grad):
        a, b, out = ctx.saved_tensors
        grad_a = grad * derivative_a(a, b, out) if ctx.needs_input_grad[0] else None
        grad_b = grad * derivative_b(a, b, out) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b

    return type(name.capitalize(), (Function,),
                {"forward": staticmethod(forward_), "backward": staticmethod(backward_)})


def binary_op(name, forward, derivative_a, derivative_b, doc=""):
    """An elementwise op of two operands (Tensors or numbers) with broadcasting and promotion."""
    function = _binary_function(name, forward, derivative_a, derivative_b)

    def op(input, other):
        return apply_binary(name, function, input, other)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc or f"Elementwise {name} with broadcasting. Shapes: (*a), (*b) -> broadcast(a, b)."
    op.function = function
    return op


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad  # the engine sums each down to its input's shape


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.needs_input_grad[0] else None,
                grad * a if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad / b if ctx.needs_input_grad[0] else None
        grad_b = -grad * a / (b * b) if ctx.needs_input_grad[1] else None  # d(a/b)/db = -a/b^2
        return grad_a, grad_b


def add(input, other, alpha=1):
    """``input + alpha * other`` with broadcasting. Shapes: (*a), (*b) -> broadcast(a, b)."""
    if alpha != 1:
        other = mul(other, alpha)
    return apply_binary("add", Add, input, other)


def sub(input, other, alpha=1):
    """``input - alpha * other`` with broadcasting. Shapes: (*a), (*b) -> broadcast(a, b)."""
    if isinstance(input, Tensor) and input._data.dtype == np.bool_ and isinstance(other, Tensor) \
            and other._data.dtype == np.bool_:
        raise RuntimeError("sub: Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if alpha != 1:
        other = mul(other, alpha)
    return apply_binary("sub", Sub, input, other)


def mul(input, other):
    """Elementwise product with broadcasting. Shapes: (*a), (*b) -> broadcast(a, b)."""
    return apply_binary("mul", Mul, input, other)


def div(input, other, rounding_mode=None):
    """True division (integers give floats); ``rounding_mode`` 'trunc' or 'floor' rounds the result
    (gradient zero). Shapes: (*a), (*b) -> broadcast(a, b)."""
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                             f"found '{rounding_mode}'")
        quotient = floor_divide(input, other) if rounding_mode == "floor" else _trunc_divide(input, other)
        return quotient
    a, b = promote("div", input, other)
    if not any(isinstance(x, Tensor) and x._data.dtype.kind == "f" for x in (a, b)) \
            and not any(isinstance(x, float) for x in (a, b)):
        a, b = [x.float() if isinstance(x, Tensor) else float(x) for x in (a, b)]
    return apply_broadcasting("div", Div, a, b)


def _integer_division_check(a, b, op):
    if isinstance(b, Tensor) and b._data.dtype.kind in "iub" and a._data.dtype.kind in "iub" \
            and not b._data.all():
        raise ZeroDivisionError(f"{op}: integer division by zero")
    if isinstance(b, (int, np.integer)) and not isinstance(b, bool) and b == 0 and \
            a._data.dtype.kind in "iub":
        raise ZeroDivisionError(f"{op}: integer division by zero")


def _piecewise_constant_binary(name, forward):
    function = _binary_function(name, forward, lambda a, b, out: out * 0, lambda a, b, out: out * 0)

    def op(input, other):
        a, b = promote(name, input, other)
        if isinstance(a, Tensor):
            _integer_division_check(a, b, name)
        return apply_broadcasting(name, function, a, b)

    op.__name__ = op.__qualname__ = name
    return op


floor_divide = _piecewise_constant_binary("floor_divide", lambda xp, a, b: xp.floor_divide(a, b))
floor_divide.__doc__ = "``floor(input / other)`` (Python's ``//``); gradient zero. Shapes broadcast."
_trunc_divide = _piecewise_constant_binary("trunc_divide", lambda xp, a, b: _trunc_div(xp, a, b))


def _trunc_div(xp, a, b):
    quotient = xp.true_divide(a, b)
    kind = quotient.dtype if hasattr(quotient, "dtype") else None
    result = xp.trunc(quotient)
    if hasattr(a, "dtype") and a.dtype.kind in "iu" and (not hasattr(b, "dtype") or b.dtype.kind in "iu"):
        return result.astype(a.dtype if hasattr(a, "dtype") else b.dtype)
    return result.astype(kind, copy=False) if kind is not None else result


remainder = binary_op("remainder", lambda xp, a, b: xp.remainder(a, b),
                      lambda a, b, out: 1.0,
                      lambda a, b, out: -floor_divide(a, b),      # a mod b = a - b floor(a/b)
                      doc="Python-style modulus (sign of the divisor), the ``%`` operator.")


def _pow_forward(xp, a, b):
    if hasattr(a, "dtype") and a.dtype.kind in "iu" and (
            (hasattr(b, "dtype") and b.dtype.kind in "iu" and (b < 0).any()) or
            (isinstance(b, int) and b < 0)):
        raise RuntimeError("pow: Integers to negative integer powers are not allowed.")
    if type(b) is int and b == 2:
        return a * a  # twice as fast as the general power, and the most common exponent
    return xp.power(a, b)


def _pow_grad_exponent(a, b, out):
    # d a^b / db = a^b ln a, defined as 0 where a == 0 and b >= 0 (PyTorch's convention)
    if not isinstance(a, Tensor):
        return out * math.log(a) if a > 0 else out * 0
    return where((a == 0) & (b >= 0), 0.0, out * log(a))


pow = binary_op("pow", _pow_forward,
                lambda a, b, out: b * pow(a, b - 1) if not isinstance(b, (int, float)) or b != 0 else 0.0,
                _pow_grad_exponent,
                doc="``input ** exponent``; either may be a number. Shapes broadcast.")


maximum = binary_op("maximum", lambda xp, a, b: xp.maximum(a, b),
                    lambda a, b, out: (a > b) + (a == b) * 0.5,   # ties split the gradient
                    lambda a, b, out: (b > a) + (a == b) * 0.5,
                    doc="Elementwise max of two tensors (NaN propagates). Shapes broadcast.")
minimum = binary_op("minimum", lambda xp, a, b: xp.minimum(a, b),
                    lambda a, b, out: (a < b) + (a == b) * 0.5,
                    lambda a, b, out: (b < a) + (a == b) * 0.5,
                    doc="Elementwise min of two tensors (NaN propagates). Shapes broadcast.")


def _select(xp, condition, a, b):
    """``xp.where(condition, a, b)``. When the other side is the number 0 (masking a gradient, as
    relu's backward does) a multiply by the mask is 5-10x faster than NumPy's where on a random
    mask; it is exact unless the kept side holds inf/NaN (inf * 0 is NaN), so that is checked."""
    for kept, other, mask in ((a, b, condition), (b, a, None)):
        if type(other) in (int, float) and other == 0 and type(kept) is np.ndarray and \
                kept.dtype.kind == "f" and xp.isfinite(kept).all():
            out = kept * (condition if mask is not None else ~condition)
            out += 0.0  # -x * False is -0.0 where `where` gives +0.0 (a kept -0.0 turns +0.0 too)
            return out
    return xp.where(condition, a, b)


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        return _select(array_module(condition), condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        condition, = ctx.saved_tensors
        return (None,
                where(condition, grad, 0.0) if ctx.needs_input_grad[1] else None,
                where(condition, 0.0, grad) if ctx.needs_input_grad[2] else None)


def where(condition, input, other):
    """``input`` where ``condition`` else ``other``. Shapes: (*c), (*a), (*b) -> broadcast of all."""
    if not isinstance(condition, Tensor) or condition._data.dtype != np.bool_:
        raise RuntimeError(f"where: expected condition to be a bool tensor, got "
                           f"{condition.dtype if isinstance(condition, Tensor) else type(condition).__name__}")
    a, b = promote("where", input, other)
    return apply_broadcasting("where", Where, condition, a, b)


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, low, high):
        xp = array_module(x)
        out = x
        if low is not None:
            out = xp.maximum(out, low)
        if high is not None:
            out = xp.minimum(out, high)
        ctx.save_for_backward(x, low, high)
        return out if out is not x else x.copy()

    @staticmethod
    def backward(ctx, grad):
        x, low, high = ctx.saved_tensors
        inside = x == x  # all True, shaped like x
        if low is not None:
            inside = inside & (x >= low)
        if high is not None:
            inside = inside & (x <= high)
        zero = grad * 0
        grad_x = where(inside, grad, zero)
        grad_low = where(x < low, grad, zero) if ctx.needs_input_grad[1] else None
        grad_high = where(x > high, grad, zero) if ctx.needs_input_grad[2] else None
        return grad_x, grad_low, grad_high


def clamp(input, min=None, max=None):
    """Clamp every element into [min, max] (numbers or broadcastable tensors). Shape: (*) -> (*)."""
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    operands = promote("clamp", input, *[b for b in (min, max) if b is not None])
    x = operands[0]
    low = operands[1] if min is not None else None
    high = operands[-1] if max is not None else None
    return apply_broadcasting("clamp", Clamp, x, low, high)


clip = clamp


def lerp(input, end, weight):
    """``input + weight * (end - input)``. Shapes broadcast."""
    return add(input, mul(weight, sub(end, input)))


subtract, multiply, divide, true_divide, negative = sub, mul, div, div, neg

# ---- Tensor methods and operators for this family -----------------------------------------------

def _reflected(op):
    return lambda self, other: op(other, self)


for _name in ("add", "sub", "mul", "div", "pow", "neg", "abs", "sign", "exp", "exp2", "log", "log2",
              "log10", "log1p", "expm1", "sqrt", "rsqrt", "square", "sin", "cos", "tan", "tanh",
              "sigmoid", "erf", "floor", "ceil", "round", "trunc", "reciprocal", "clamp", "clip",
              "maximum", "minimum", "lerp", "floor_divide", "remainder", "positive", "subtract",
              "multiply", "divide", "true_divide", "negative"):
    setattr(Tensor, _name, globals()[_name])

Tensor.__add__, Tensor.__radd__ = add, _reflected(add)
Tensor.__sub__, Tensor.__rsub__ = sub, _reflected(sub)
Tensor.__mul__, Tensor.__rmul__ = mul, _reflected(mul)
Tensor.__truediv__, Tensor.__rtruediv__ = div, _reflected(div)
Tensor.__floordiv__, Tensor.__rfloordiv__ = floor_divide, _reflected(floor_divide)
Tensor.__mod__, Tensor.__rmod__ = remainder, _reflected(remainder)
Tensor.__pow__, Tensor.__rpow__ = pow, _reflected(pow)
Tensor.__neg__, Tensor.__pos__, Tensor.__abs__ = neg, positive, abs
Tensor.where = lambda self, condition, other: where(condition, self, other)
bind_inplace_methods(globals(), [name for name in __all__ if name not in ("where", "positive")])
# Augmented assignment updates in place, as in PyTorch (``p -= lr * p.grad`` changes ``p`` itself).
Tensor.__iadd__ = Tensor.add_
Tensor.__isub__ = Tensor.sub_
Tensor.__imul__ = Tensor.mul_
Tensor.__itruediv__ = Tensor.div_
Tensor.__ipow__ = Tensor.pow_
