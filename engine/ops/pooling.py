"""Pooling: max_pool, avg_pool, adaptive_avg_pool and adaptive_max_pool, each in 1, 2 and 3 dims.

Every pool here is a linear map of the input once a max pool's choice is fixed, and each linear map
comes as a pair of Functions, the map and its adjoint, each the other's gradient (so double backward
works to any order):

- max pools find, on raw arrays, the flat input index of each window's maximum (as PyTorch: the
  first one, but NaN beats numbers and a later NaN an earlier one); the values are then a gather
  of the input at those indices, whose adjoint scatter-adds the gradient back (``MaxPool``).
- avg pools sum the strided slices of the zero-padded input at every kernel position and divide
  by a count; the adjoint spreads grad / count back over each window (``AvgPool``).
- adaptive avg pools average the input over windows [floor(i S / o), ceil((i + 1) S / o)) of each
  spatial dim (size S, output size o): a matrix per dim, applied by one tensordot each
  (``AdaptiveAvgPool``); when o divides S it is an avg pool with kernel = stride = S / o, and a
  mean when o = 1. Adaptive max pools are max pools over the same windows.

Windows are those of ``WindowGeometry`` (conv.py): output o reads input position
``o * stride - padding + k * dilation`` for k < kernel.

Float32/float64 max and avg pools of 1 and 2 dims run on the 2-D pool kernels (kernels/pooling.py;
a 1-D pool is a 2-D one of height 1): the max pool kernel returns the values with the indices, and
the raw maps above call the kernels, so the adjoint pairs stay differentiable. 3-D pools, other
dtypes and adaptive pools with uneven windows compute here on arrays.
"""
import math
import numbers

import numpy as np

from ... import kernels
from ..device import array_module
from ..function import Function
from ..tensor import Tensor
from .conv import WindowGeometry

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool3d"]


def _adjoint_pair(name, apply, apply_adjoint):
    """Functions for a linear map ``apply(x, params)`` and its adjoint ``apply_adjoint(g, params)``:
    the gradient of each is the other. ``Map.apply(x, params, value=y)`` records the map with its
    value at x when the caller already has it (the max pool kernel finds values and indices at once)."""

    def forward(function):
        def run(ctx, x, params, value=None):
            ctx.params = params
            return function(x, params) if value is None else value
        return staticmethod(run)

    linear_map = type(name, (Function,), {"forward": forward(apply)})
    adjoint = type(name + "Adjoint", (Function,), {"forward": forward(apply_adjoint)})
    linear_map.backward = staticmethod(lambda ctx, grad: (adjoint.apply(grad, ctx.params), None))
    adjoint.backward = staticmethod(lambda ctx, grad: (linear_map.apply(grad, ctx.params), None))
    return linear_map


# ---- the 2-D pool kernels ------------------------------------------------------------------------

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _kernels_serve(array, n):
    """Whether the 2-D pool kernels take an n-dim pool of ``array``."""
    return n <= 2 and array.dtype in _KERNEL_DTYPES


def _pair(values, fill):
    """A per-dim value of a 1-D or 2-D pool as the 2-D kernels' (h, w): a 1-D pool has height 1."""
    return (fill,) * (2 - len(values)) + tuple(values)


def _planar(geometry):
    """kernel, stride, padding, dilation and output size of a 1-D or 2-D pool as (h, w) pairs."""
    return (_pair(geometry.kernel, 1), _pair(geometry.stride, 1), _pair(geometry.before, 0),
            _pair(geometry.dilation, 1), _pair(geometry.output, 1))


def _planes(array, n):
    """array (*lead, *spatial) of an n-dim pool as the kernels' planes (*lead, H, W)."""
    return array if n == 2 else array[..., None, :]


def _from_planes(array, n):
    """The kernels' planes (*lead, H, W) as an n-dim pool's (*lead, *spatial)."""
    return array if n == 2 else array[..., 0, :]


# ---- max: gather at flat indices, scatter-add back ---------------------------------------------

def _rows(index, size):
    """The flat index (*lead, *output) as (rows, outputs per row): one row per (sample, channel)."""
    n = len(size)
    lead, output = index.shape[:index.ndim - n], index.shape[index.ndim - n:]
    return lead, index.reshape(math.prod(lead), math.prod(output))


def _gather(x, params):
    """x (*lead, *size) at the flat spatial ``index`` (*lead, *output) -> (*lead, *output)."""
    index, size, unique = params
    lead, rows = _rows(index, size)
    picked = array_module(x).take_along_axis(x.reshape(rows.shape[0], math.prod(size)), rows, axis=1)
    return picked.reshape(index.shape)


def _scatter_add(grad, params):
    """grad (*lead, *output) added at the flat spatial ``index`` into zeros (*lead, *size)."""
    index, size, unique = params
    n = len(size)
    if _kernels_serve(grad, n):
        return _from_planes(kernels.dispatch("max_pool2d_backward", grad)(_planes(grad, n), _planes(index, n),
                                                                         _pair(size, 1)), n)
    xp = array_module(grad)
    lead, rows = _rows(index, size)
    count, positions = rows.shape[0], math.prod(size)
    values = grad.reshape(rows.shape)
    if unique:  # windows do not overlap: no index repeats within a row, a plain write is exact
        out = xp.zeros((count, positions), grad.dtype)
        xp.put_along_axis(out, rows, values, axis=1)
    else:  # bincount sums every repeat (it computes in float64)
        flat = rows + xp.arange(count).reshape(-1, 1) * positions
        out = xp.bincount(flat.ravel(), weights=values.ravel(), minlength=count * positions).astype(grad.dtype)
    return out.reshape(lead + size)


MaxPool = _adjoint_pair("MaxPool", _gather, _scatter_add)


def _max_position(windows):
    """The position of each window's maximum along the last axis of ``windows``: the first maximum,
    but NaN beats numbers and a later NaN an earlier one (PyTorch's ``value > max || isnan(value)``)."""
    xp = array_module(windows)
    best = windows.argmax(-1)  # the first maximum, or the first NaN
    if windows.dtype.kind == "f":
        nan = xp.isnan(windows)
        best = xp.where(nan.any(-1), windows.shape[-1] - 1 - nan[..., ::-1].argmax(-1), best)
    return best


def _first_max_indices(windows, tables, size):
    """Flat spatial indices (*lead, *output) of the first maximum of each window.

    windows (*lead, *output, *kernel): the values; tables[d] (output_d, kernel_d): the input
    position along dim d that each window element reads (in range: see ``_window_tables``).
    """
    xp = array_module(windows)
    n = len(size)
    output, kernel = windows.shape[windows.ndim - 2 * n:windows.ndim - n], windows.shape[windows.ndim - n:]
    # the flat input index of every (window, element): (*output, *kernel) -> (prod(output) * prod(kernel),)
    flat = 0
    for d, table in enumerate(tables):
        grid = [1] * (2 * n)
        grid[d], grid[n + d] = table.shape
        flat = flat * size[d] + table.reshape(grid)
    flat = xp.asarray(np.asarray(flat).reshape(-1))
    best = _max_position(windows.reshape(windows.shape[:windows.ndim - n] + (math.prod(kernel),)))
    best += xp.arange(math.prod(output)).reshape(output) * math.prod(kernel)  # the row of each window
    return xp.take(flat, best)


def _window_tables(geometry):
    """Input positions o * stride - padding + k * dilation per dim, (output_d, kernel_d), with each
    position in the padding replaced by the window's first input position: the argmax lands in the
    padding only at a window's first element, when all its input is -inf, and PyTorch then reports
    the first input position."""
    tables = []
    for n, o, s, b, k, d in zip(geometry.size, geometry.output, geometry.stride, geometry.before,
                                geometry.kernel, geometry.dilation):
        positions = np.arange(o).reshape(-1, 1) * s - b + np.arange(k) * d
        inside = (positions >= 0) & (positions < n)
        first = positions[np.arange(o), inside.argmax(1)].reshape(-1, 1)
        tables.append(np.clip(np.where(inside, positions, first), 0, n - 1))
    return tables


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min if dtype.kind in "iu" else False


def _max_at(input, index, size, unique, return_indices, values=None):
    """The max pool's output: ``values`` (the input at ``index``; gathered when None) recorded as a
    MaxPool, and the indices when asked for."""
    values = MaxPool.apply(input, (index, size, unique), value=values)
    return (values, Tensor(index)) if return_indices else values


# ---- avg: window sums and their adjoint ----------------------------------------------------------

def _window_sum(x, params):
    geometry, count_include_pad, divisor_override = params
    n = len(geometry.size)
    if _kernels_serve(x, n):
        kernel, stride, padding, _, output = _planar(geometry)
        return _from_planes(kernels.dispatch("avg_pool2d_forward", x)(
            _planes(x, n), kernel, stride, padding, output, count_include_pad, divisor_override), n)
    divisor = _divisor(geometry, count_include_pad, divisor_override, x)
    padded = geometry.pad(x)
    parts = [padded[(Ellipsis,) + reads] for _, reads in geometry.offsets()]
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    if x.dtype.kind in "iu":  # integer pools divide with truncation, as PyTorch
        return array_module(x).trunc(total / divisor).astype(x.dtype)
    total /= divisor
    return total


def _window_spread(grad, params):
    geometry, count_include_pad, divisor_override = params
    n = len(geometry.size)
    if _kernels_serve(grad, n):
        kernel, stride, padding, _, _ = _planar(geometry)
        return _from_planes(kernels.dispatch("avg_pool2d_backward", grad)(
            _planes(grad, n), _pair(geometry.size, 1), kernel, stride, padding, count_include_pad, divisor_override),
            n)
    share = grad / _divisor(geometry, count_include_pad, divisor_override, grad)
    # every kernel position of window o receives share[o]: columns (*lead, *kernel, *output)
    lead = share.shape[:share.ndim - n]
    columns = array_module(grad).broadcast_to(share.reshape(lead + (1,) * n + geometry.output),
                                              lead + geometry.kernel + geometry.output)
    return geometry.scatter(columns)


AvgPool = _adjoint_pair("AvgPool", _window_sum, _window_spread)


def _divisor(geometry, count_include_pad, divisor_override, like):
    """What each window's sum is divided by, shaped to broadcast over the output, in ``like``'s
    array module (and dtype, if floating)."""
    if divisor_override:
        return divisor_override
    n = len(geometry.size)
    divisor = 1
    for d, (size, k, s, p, o) in enumerate(zip(geometry.size, geometry.kernel, geometry.stride,
                                               geometry.before, geometry.output)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)  # a ceil_mode window may reach past the padding
        count = end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0)
        divisor = divisor * count.reshape((-1,) + (1,) * (n - 1 - d))
    return array_module(like).asarray(divisor, dtype=like.dtype if like.dtype.kind == "f" else np.float64)


# ---- adaptive avg: one averaging matrix per dim ----------------------------------------------------

def _contract(x, matrices):
    """Apply matrices[d] (out_d, in_d) along spatial dim d of x (*lead, *size) -> (*lead, *out):
    each tensordot contracts the first spatial dim and appends the new one last, so after all n
    the order is restored."""
    first = x.ndim - len(matrices)
    for matrix in matrices:
        x = array_module(x).tensordot(x, matrix, axes=([first], [1]))
    return x


AdaptiveAvgPool = _adjoint_pair("AdaptiveAvgPool", _contract,
                                lambda grad, matrices: _contract(grad, [m.T for m in matrices]))


def _adaptive_bounds(size, out):
    """PyTorch's adaptive windows along a dim: [floor(i S / o), ceil((i + 1) S / o))."""
    i = np.arange(out)
    return i * size // out, -(-(i + 1) * size // out)


def _averaging_matrix(size, out, dtype):
    start, end = _adaptive_bounds(size, out)
    positions = np.arange(size)
    inside = (positions >= start[:, None]) & (positions < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


# ---- arguments and checks ------------------------------------------------------------------------

def _param(op, name, value, n):
    values = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != n or not all(isinstance(v, numbers.Integral) for v in values):
        raise RuntimeError(f"{op}: {name} must either be a single int, or a tuple of {n} ints")
    return tuple(int(v) for v in values)


def _check_input(op, input, n):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (n + 1, n + 2) or 0 in input.shape[-n - 1:]:
        raise RuntimeError(f"{op}: non-empty {n + 1}D or {n + 2}D (batch mode) tensor expected for input, "
                           f"but got input of size {list(input.shape)}")


def _pool_geometry(op, input, n, kernel_size, stride, padding, dilation, ceil_mode):
    """The geometry of a max/avg pool, with PyTorch's checks and output size."""
    _check_input(op, input, n)
    kernel = _param(op, "kernel_size", kernel_size, n)
    stride = kernel if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else \
        _param(op, "stride", stride, n)
    padding = _param(op, "padding", padding, n)
    dilation = _param(op, "dilation", dilation, n)
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"{op}: kernel size should be greater than zero, but got kernel_size={kernel}")
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"{op}: stride should not be zero, but got stride={stride}")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"{op}: dilation should be greater than zero, but got dilation={dilation}")
    for p, k, d in zip(padding, kernel, dilation):
        if p < 0 or p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    size = tuple(input.shape[-n:])
    output = []
    for i, k, s, p, d in zip(size, kernel, stride, padding, dilation):
        o = (i + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= i + p:  # the last window must start inside the input or left padding
            o -= 1
        output.append(o)
    if any(o < 1 for o in output):
        channels = input.shape[-n - 1]
        raise RuntimeError(f"{op}: Given input size: ({'x'.join(map(str, (channels,) + size))}). Calculated "
                           f"output size: ({'x'.join(map(str, [channels] + output))}). Output size is too small")
    return WindowGeometry(size, kernel, stride, dilation, padding, padding, tuple(output))


def _max_pool(op, n, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    geometry = _pool_geometry(op, input, n, kernel_size, stride, padding, dilation, ceil_mode)
    x = input._data
    unique = all(s >= k for s, k in zip(geometry.stride, geometry.span))
    if _kernels_serve(x, n):
        values, index = kernels.dispatch("max_pool2d_forward", x)(_planes(x, n), *_planar(geometry))
        return _max_at(input, _from_planes(index, n), geometry.size, unique, return_indices, _from_planes(values, n))
    windows = geometry.windows(geometry.pad(x, _lowest(x.dtype)))
    index = _first_max_indices(windows, _window_tables(geometry), geometry.size)
    return _max_at(input, index, geometry.size, unique, return_indices)


def _avg_pool(op, n, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{op}: divisor must be not zero")
    geometry = _pool_geometry(op, input, n, kernel_size, stride, padding, 1, ceil_mode)
    return AvgPool.apply(input, (geometry, count_include_pad, divisor_override))


def _output_size(op, input, n, output_size):
    _check_input_adaptive(op, input, n)
    sizes = (output_size,) * n if isinstance(output_size, numbers.Integral) or output_size is None else \
        tuple(output_size)
    if len(sizes) != n:
        raise RuntimeError(f"{op}: output_size must be {n}")
    sizes = tuple(s if s is not None else i for s, i in zip(sizes, input.shape[-n:]))
    if any(not isinstance(s, numbers.Integral) or s < 0 for s in sizes):
        raise RuntimeError(f"{op}: output_size must be non-negative integers or None, got {output_size}")
    return tuple(int(s) for s in sizes)


def _check_input_adaptive(op, input, n):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"{op}(): Expected {n + 1}D or {n + 2}D tensor, but got {list(input.shape)}")
    for d in range(input.ndim - n - 1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch dimensions, but "
                               f"input has sizes {list(input.shape)} with dimension {d} being empty")
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f'"{op}" not implemented for input of dtype {input.dtype}')


def _divides(size, output):
    return all(o > 0 and s % o == 0 for s, o in zip(size, output))


def _adaptive_avg_pool(op, n, input, output_size):
    output = _output_size(op, input, n, output_size)
    size = tuple(input.shape[-n:])
    if all(o == 1 for o in output):  # global average pooling: one mean
        return input.mean(tuple(range(input.ndim - n, input.ndim)), keepdim=True)
    if _divides(size, output):
        kernel = tuple(s // o for s, o in zip(size, output))
        return _avg_pool(op, n, input, kernel, kernel, 0, False, True, None)
    dtype = input._data.dtype
    matrices = [array_module(input._data).asarray(_averaging_matrix(s, o, dtype)) for s, o in zip(size, output)]
    return AdaptiveAvgPool.apply(input, matrices)


def _adaptive_max_pool(op, n, input, output_size, return_indices):
    output = _output_size(op, input, n, output_size)
    size = tuple(input.shape[-n:])
    if _divides(size, output):
        kernel = tuple(s // o for s, o in zip(size, output))
        return _max_pool(op, n, input, kernel, kernel, 0, 1, False, return_indices)
    # Windows differ in size: read ceil-sized windows whose positions repeat the last one past the
    # window's end (a repeat cannot change the first maximum), dim by dim.
    x = input._data
    xp = array_module(x)
    if 0 in output:
        return _max_at(input, xp.zeros(x.shape[:x.ndim - n] + output, xp.int64), size, True, return_indices)
    tables = []
    windows = x
    for d, (s, o) in enumerate(zip(size, output)):
        start, end = _adaptive_bounds(s, o)
        table = np.minimum(start[:, None] + np.arange((end - start).max()), end[:, None] - 1)
        tables.append(table)
        # take along dim d: (.., s, ..) -> (.., o * width, ..), then split into (o, width) at the end
        axis = x.ndim - n + d
        taken = xp.take(windows, xp.asarray(table.ravel()), axis=axis)
        windows = xp.moveaxis(taken.reshape(taken.shape[:axis] + table.shape + taken.shape[axis + 1:]),
                              axis + 1, -1)
    index = _first_max_indices(windows, tables, size)
    return _max_at(input, index, size, False, return_indices)


# ---- public ops ----------------------------------------------------------------------------------

def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool3d", 3, input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max_pool("adaptive_max_pool3d", 3, input, output_size, return_indices)


_DIMS = {1: "L", 2: "H, W", 3: "D, H, W"}
for _n in (1, 2, 3):
    _dims = _DIMS[_n]
    _out = ", ".join(d + "_out" for d in _dims.split(", "))
    globals()[f"max_pool{_n}d"].__doc__ = (
        f"{_n}-D max pooling: the maximum of each window (padding counts as -inf). Shapes: (N, C, {_dims}) "
        f"or (C, {_dims}) -> (N, C, {_out}) with out = floor((in + 2 * padding - dilation * (kernel_size - 1) "
        f"- 1) / stride) + 1 (ceil with ``ceil_mode``; stride defaults to kernel_size). With "
        f"``return_indices``, also the int64 flat index of each maximum within its ({_dims}) plane. The "
        f"gradient goes to the (first) maximum.")
    globals()[f"avg_pool{_n}d"].__doc__ = (
        f"{_n}-D average pooling: the mean of each window. Shapes: (N, C, {_dims}) or (C, {_dims}) -> "
        f"(N, C, {_out}), sizes as max_pool{_n}d's. The divisor counts padding when ``count_include_pad``, "
        f"only input elements otherwise" + (", or is ``divisor_override``." if _n > 1 else "."))
    globals()[f"adaptive_avg_pool{_n}d"].__doc__ = (
        f"{_n}-D adaptive average pooling to ``output_size`` (an int, or one int or None (keep) per dim): "
        f"output i averages input [floor(i * in / out), ceil((i + 1) * in / out)). Shapes: (N, C, {_dims}) "
        f"or (C, {_dims}) -> (N, C, *output_size).")
    globals()[f"adaptive_max_pool{_n}d"].__doc__ = (
        f"{_n}-D adaptive max pooling to ``output_size`` over adaptive_avg_pool{_n}d's windows. Shapes: "
        f"(N, C, {_dims}) or (C, {_dims}) -> (N, C, *output_size); with ``return_indices`` also the flat "
        f"indices of the maxima.")
