"""ember's dtypes: named wrappers over NumPy dtypes, and PyTorch's type-promotion rules."""
import numpy as np

# Promotion works by category first (bool < integer < floating), then by size within a category.
_BOOL, _INT, _FLOAT = 0, 1, 2


class dtype:
    """A tensor element type, e.g. ``ember.float32``; ``.numpy`` is the NumPy dtype that holds it."""

    __slots__ = ("name", "numpy", "category", "itemsize")

    def __init__(self, name, numpy_dtype, category):
        self.name = name
        self.numpy = np.dtype(numpy_dtype)
        self.category = category
        self.itemsize = self.numpy.itemsize

    @property
    def is_floating_point(self):
        return self.category == _FLOAT

    @property
    def is_signed(self):
        return self.name != "uint8" and self.name != "bool"

    def __repr__(self):
        return f"ember.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


bool_ = dtype("bool", np.bool_, _BOOL)
uint8 = dtype("uint8", np.uint8, _INT)
int8 = dtype("int8", np.int8, _INT)
int16 = dtype("int16", np.int16, _INT)
int32 = dtype("int32", np.int32, _INT)
int64 = dtype("int64", np.int64, _INT)
float16 = dtype("float16", np.float16, _FLOAT)
float32 = dtype("float32", np.float32, _FLOAT)
float64 = dtype("float64", np.float64, _FLOAT)

ALL_DTYPES = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_BY_NUMPY = {d.numpy: d for d in ALL_DTYPES}
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update({"half": float16, "float": float32, "double": float64, "int": int32, "long": int64,
                 "short": int16})

_default_float = float32


def from_name(name):
    return _BY_NAME[name]


def from_numpy(np_dtype):
    """The ember dtype of a NumPy dtype; raises TypeError for types ember does not hold."""
    try:
        return _BY_NUMPY[np_dtype]
    except KeyError:
        found = _BY_NUMPY.get(np.dtype(np_dtype))
        if found is None:
            raise TypeError(f"ember does not support NumPy dtype {np.dtype(np_dtype)}; "
                            f"supported: {', '.join(d.name for d in ALL_DTYPES)}") from None
        return found


def to_dtype(value):
    """Accept an ember dtype, a NumPy dtype, a Python type (float -> float64, int -> int64, bool) or a
    name; return an ember dtype."""
    if isinstance(value, dtype):
        return value
    if value is int:
        return int64
    if value is bool:
        return bool_
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    return from_numpy(np.dtype(value))


def get_default_dtype():
    return _default_float


def set_default_dtype(d):
    """Set the dtype that Python floats and float factories (``zeros``, ``randn``...) produce."""
    global _default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating point dtypes are allowed, got {d}")
    _default_float = d


def promote_types(a, b):
    """PyTorch's promote_types: the higher category wins; within one, the wider type."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return from_numpy(np.promote_types(a.numpy, b.numpy))


def scalar_dtype(value):
    """The dtype a Python number has as a 'wrapped number' in promotion."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    return _default_float


def _combine_categories(higher, lower):
    # Lower-priority operands (0-d tensors, then Python numbers) only count when they raise the category.
    if higher is None:
        return lower
    if lower is None or higher.category == _FLOAT:
        return higher
    if higher.category == _BOOL or lower.category == _FLOAT:
        return promote_types(higher, lower)
    return higher


def result_type(*operands):
    """PyTorch's result_type over tensors and Python numbers.

    Tensors with dimensions take priority over 0-d tensors, which take priority over Python numbers:
    a float32 tensor times a float64 0-d tensor or a Python float stays float32.
    """
    dim_result = zero_result = wrapped_result = None
    for x in operands:
        d = getattr(x, "dtype", None)
        if not isinstance(d, dtype):  # a number (NumPy scalars too: their .dtype is NumPy's)
            d = scalar_dtype(x)
            wrapped_result = d if wrapped_result is None else promote_types(wrapped_result, d)
        elif x.ndim:
            dim_result = d if dim_result is None else promote_types(dim_result, d)
        else:
            zero_result = d if zero_result is None else promote_types(zero_result, d)
    return _combine_categories(dim_result, _combine_categories(zero_result, wrapped_result))
