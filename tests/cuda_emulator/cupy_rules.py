"""What CuPy lacks of NumPy's API, for fake_cupy.py: names and call signatures that raise on CuPy.

Where CuPy is installed (it imports without a GPU), its own functions' signatures and its ndarray's
method signatures (the first line of each docstring) decide: a call that does not bind to CuPy's
signature, or a name CuPy does not have, raises here as it would there. Without CuPy, the known gaps
below still raise: reductions take no ``initial=`` or ``where=`` (CuPy's max, min, sum... have no such
parameters), ufuncs take no ``where=``.
"""
import functools
import inspect
import re

# functions whose arguments CuPy copies to the device or reads on the host: NumPy data is fine there
TAKES_HOST_DATA = {"array", "asarray", "asnumpy", "get_array_module", "take", "result_type", "can_cast",
                   "promote_types", "issubdtype", "isscalar", "ndim", "shape", "size", "broadcast_shapes", "finfo",
                   "iinfo"}
# names that are not array functions: NumPy's, as they are
HOST_FUNCTIONS = {"dtype", "finfo", "iinfo", "issubdtype", "promote_types", "broadcast_shapes"}
_REDUCTIONS = {"max", "min", "amax", "amin", "sum", "prod", "mean", "all", "any", "nanmax", "nanmin", "nansum",
               "std", "var", "count_nonzero"}
_UFUNC_KEYWORDS = {"out", "dtype", "casting"}


@functools.cache
def _cupy():
    """The installed CuPy module (its Python API imports without a GPU), or None."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def check_name(name):
    """AttributeError where CuPy has no module attribute ``name``."""
    if _cupy() is not None and _cupy_attribute(name) is None:
        raise AttributeError(f"module 'cupy' has no attribute '{name}' (NumPy has it; CuPy does not)")


def _cupy_attribute(name):
    """CuPy's attribute of the dotted ``name`` ('lib.stride_tricks.as_strided'), or None."""
    value = _cupy()
    for part in name.split("."):
        value = getattr(value, part, None)
    return value


def check_method(name):
    """AttributeError where CuPy's ndarray has no attribute ``name``."""
    cupy = _cupy()
    if cupy is not None and not hasattr(cupy.ndarray, name):
        raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}' (NumPy's ndarray has it)")


def check_call(name, args, kwargs, method=False, ufunc=False):
    """TypeError where CuPy's ``name`` (``ndarray.<method>`` for a method) does not take these arguments."""
    short = name.rpartition(".")[2]
    if ufunc:
        extra = set(kwargs) - _UFUNC_KEYWORDS
        if extra:
            raise TypeError(f"cupy.{name}: CuPy's ufuncs take no keyword {', '.join(sorted(extra))} "
                            f"(they take {', '.join(sorted(_UFUNC_KEYWORDS))})")
        return
    if short in _REDUCTIONS and {"initial", "where"} & set(kwargs):
        raise TypeError(f"cupy {name}() got an unexpected keyword argument "
                        f"'{sorted({'initial', 'where'} & set(kwargs))[0]}' (CuPy's reductions have none)")
    signature = _method_signature(short) if method else _function_signature(name)
    if signature is not None:
        try:
            signature.bind(*((None,) if method else ()), *args, **kwargs)
        except TypeError as error:
            raise TypeError(f"cupy {name}{signature}: {error}") from None


@functools.cache
def _function_signature(name):
    try:
        return inspect.signature(_cupy_attribute(name)) if _cupy() is not None else None
    except (TypeError, ValueError):
        return None


_DOCSTRING_SIGNATURE = re.compile(r"^\w+\.(\w+)\((.*)\)")


@functools.cache
def _method_signature(name):
    """CuPy's ndarray method ``name``'s signature, from its docstring's first line such as
    ``_ndarray_base.max(self, axis=None, out=None, keepdims=False) -> _ndarray_base``."""
    cupy = _cupy()
    doc = (getattr(getattr(cupy, "ndarray", None), name, None).__doc__ or "") if cupy is not None else ""
    match = _DOCSTRING_SIGNATURE.match(doc.strip())
    if match is None or match.group(1) != name:
        return None
    parameters, kind = [], inspect.Parameter.POSITIONAL_OR_KEYWORD
    for part in (p.strip() for p in match.group(2).split(",") if p.strip()):
        declaration, has_default, _ = part.partition("=")
        word = declaration.split()[-1]
        if word.startswith("**"):
            parameters.append(inspect.Parameter(word[2:], inspect.Parameter.VAR_KEYWORD))
        elif word.startswith("*"):
            if word[1:]:
                parameters.append(inspect.Parameter(word[1:], inspect.Parameter.VAR_POSITIONAL))
            kind = inspect.Parameter.KEYWORD_ONLY
        else:
            default = None if has_default else inspect.Parameter.empty
            parameters.append(inspect.Parameter(word, kind, default=default))
    try:
        return inspect.Signature(parameters)
    except ValueError:
        return None
