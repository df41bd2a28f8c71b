"""``repr`` of a Tensor in PyTorch's format: ``tensor([1.5000, 2.0000], requires_grad=True)``.

A port of PyTorch's ``_tensor_str`` for real dtypes. One formatter per tensor chooses integer
(``1.``), fixed (``1.5000``) or scientific (``1.5000e+09``) notation from the nonzero finite values
and pads every element to one width; rows wrap at 80 characters; beyond 1000 elements only the
first and last 3 items of each dimension are shown.
"""
import math

import numpy as np

from . import dtypes

PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH = 4, 1000, 3, 80


class _Formatter:
    def __init__(self, array):
        self.floating = array.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if not self.floating:
            self.width = max(len(str(v)) for v in array.ravel().tolist())
            return
        values = array[np.isfinite(array) & (array != 0)].astype(np.float64)
        if values.size == 0:
            return
        magnitudes = np.abs(values)
        low, high = magnitudes.min(), magnitudes.max()
        self.int_mode = bool((values == np.ceil(values)).all())
        self.sci_mode = bool(high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4)
        if self.sci_mode:
            widths = (len(f"{v:.{PRECISION}e}") for v in values.tolist())
        elif self.int_mode:
            widths = (len(f"{v:.0f}") + 1 for v in values.tolist())  # + 1 for the trailing '.'
        else:
            widths = (len(f"{v:.{PRECISION}f}") for v in values.tolist())
        self.width = max(widths)

    def format(self, value):
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{PRECISION}f}"
        return text.rjust(self.width)


def _summarized(array):
    """The elements a summarized print shows: the edge items of every dimension."""
    if array.ndim == 0:
        return array
    if array.shape[0] > 2 * EDGEITEMS:
        array = np.concatenate([array[:EDGEITEMS], array[-EDGEITEMS:]])
    if array.ndim == 1:
        return array
    return np.stack([_summarized(row) for row in array])


def _vector_str(array, indent, summarize, formatter):
    per_line = max(1, (LINEWIDTH - indent) // (formatter.width + 2))
    if summarize and array.shape[0] > 2 * EDGEITEMS:
        items = ([formatter.format(v) for v in array[:EDGEITEMS].tolist()] + [" ..."]
                 + [formatter.format(v) for v in array[-EDGEITEMS:].tolist()])
    else:
        items = [formatter.format(v) for v in array.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _array_str(array, indent, summarize, formatter):
    if array.ndim == 0:
        return formatter.format(array.item())
    if array.ndim == 1:
        return _vector_str(array, indent, summarize, formatter)
    rows = range(array.shape[0])
    if summarize and array.shape[0] > 2 * EDGEITEMS:
        rows = list(range(EDGEITEMS)) + [None] + list(range(array.shape[0] - EDGEITEMS, array.shape[0]))
    parts = ["..." if i is None else _array_str(array[i], indent + 1, summarize, formatter)
             for i in rows]
    return "[" + ("," + "\n" * (array.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _add_suffixes(text, suffixes, indent):
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    return "".join(parts) + ")"


def tensor_repr(t):
    array = t._data if type(t._data) is np.ndarray else t._data.get()
    prefix = "tensor("
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    dtype = dtypes.from_numpy(array.dtype)
    default = dtypes.get_default_dtype()
    if array.size == 0:
        if array.ndim != 1:
            suffixes.append(f"size={tuple(array.shape)}")
        if dtype is not default:
            suffixes.append(f"dtype={dtype}")
        body = "[]"
    else:
        if dtype not in (default, dtypes.int64, dtypes.bool_):
            suffixes.append(f"dtype={dtype}")
        summarize = array.size > THRESHOLD
        formatter = _Formatter(_summarized(array) if summarize else array)
        body = _array_str(array, len(prefix), summarize, formatter)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, len(prefix))
