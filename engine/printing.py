"""``repr`` of a Tensor in PyTorch's format: ``tensor([1.5000, 2.0000], requires_grad=True)``."""
import numpy as np

from . import dtypes

_IMPLICIT_DTYPES = ("float32", "int64", "bool")


def tensor_repr(t):
    array = t._data if type(t._data) is np.ndarray else t._data.get()
    options = {"separator": ", ", "prefix": "tensor(", "threshold": 1000, "edgeitems": 3}
    if array.dtype.kind == "f" and array.size and np.isfinite(array).all() \
            and not np.all(array == np.round(array)):
        options.update(precision=4, floatmode="fixed")
    body = np.array2string(array, **options) if array.size else "[]"
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    name = dtypes.from_numpy(array.dtype).name
    if name not in _IMPLICIT_DTYPES or array.size == 0:
        extras.append(f"dtype=ember.{name}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
