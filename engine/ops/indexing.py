"""Indexing: ``tensor[key]``, ``tensor[key] = value``, gather/scatter, index_select/index_add,
masked_fill/masked_select, take_along_dim, one_hot and nonzero.

A key is applied in two steps, as PyTorch does: its *basic* part (ints, slices, None, Ellipsis)
first, which gives a view; then its *advanced* part (integer index arrays and bool masks) over the
dims that are left, which copies. NumPy instead counts an int next to an index array as one more
index array, which places dims differently: ``x[0, :, [1, 2]]`` of a (3, 4, 5) tensor is (4, 2) in
PyTorch and (2, 4) in NumPy.

Three Functions carry every gradient here. ``Index`` reads ``x[key]``; its backward,
``IndexBackward``, scatters the gradient into zeros of the input's shape (accumulating positions
that an index repeats), and its own backward is ``Index`` again, so double backward works.
``IndexPut`` writes or accumulates values at a key (``__setitem__``, ``scatter``, ``index_add``...).
"""
import numbers

import numpy as np

from ..device import array_module
from ..function import Function
from ..tensor import Tensor, _wrap_dim
from .elementwise import where
from .inplace import _tracks_grad, bind_inplace_methods, inplace_update
from .operands import broadcast_error
from .shape import as_view

__all__ = ["gather", "scatter", "scatter_add", "index_select", "index_add", "index_fill", "index_put",
           "masked_fill", "masked_select", "take_along_dim", "one_hot", "nonzero"]


class _Key:
    """A parsed index: ``basic``, a tuple of ints, slices and None ending in Ellipsis (so that even
    a 0-d result is a view), then ``advanced``, a tuple of full slices and index arrays over the
    dims the basic step leaves, or None when there are no index arrays."""

    __slots__ = ("basic", "advanced")

    def __init__(self, basic, advanced):
        self.basic, self.advanced = basic, advanced

    def read(self, array):
        region = array[self.basic]
        return region if self.advanced is None else region[self.advanced]

    def write(self, array, values, reduce=None):
        """Write ``values`` at the key in place, or combine them with the ufunc named ``reduce``
        ('add', 'multiply')."""
        region = array[self.basic]
        try:
            if reduce is None:
                region[Ellipsis if self.advanced is None else self.advanced] = values
            elif self.advanced is None:  # a basic key cannot repeat a position: a plain ufunc is right
                getattr(array_module(array), reduce)(region, values, out=region)
            else:  # ufunc.at, unlike `region[idx] += values`, combines every repeat of a position
                _combine_at(region, self.advanced, values, reduce)
        except ValueError as error:
            if "broadcast" not in str(error):
                raise
            raise RuntimeError(f"index_put_: shape mismatch: value tensor of shape "
                               f"{list(np.shape(values))} cannot be broadcast to indexing result of "
                               f"shape {list(self.read(array).shape)}") from None


def _combine_at(region, index, values, reduce):
    """``ufunc.at(region, index, values)`` for the ufunc named ``reduce``. CuPy has ``add.at`` but no
    ``multiply.at``: that one combines on the host and writes the region back."""
    xp = array_module(region)
    if xp is np or reduce == "add":
        getattr(xp, reduce).at(region, index, values)
        return
    def host(a):
        return a.get() if hasattr(a, "get") else a
    combined = host(region)
    getattr(np, reduce).at(combined, tuple(host(i) for i in index) if isinstance(index, tuple) else host(index),
                           host(values))
    region[...] = xp.asarray(combined)


class Index(Function):
    @staticmethod
    def forward(ctx, x, key):
        ctx.shape, ctx.key = x.shape, key
        return key.read(x)

    @staticmethod
    def backward(ctx, grad):
        return IndexBackward.apply(grad, ctx.shape, ctx.key), None


class IndexBackward(Function):
    """Zeros of ``shape`` with ``grad`` accumulated at ``key``: the gradient of ``Index``."""

    @staticmethod
    def forward(ctx, grad, shape, key):
        ctx.key = key
        out = array_module(grad).zeros(shape, grad.dtype)
        key.write(out, grad, "add")
        return out

    @staticmethod
    def backward(ctx, grad):
        return Index.apply(grad, ctx.key), None, None


class IndexPut(Function):
    """``x`` with ``values`` written at ``key`` (``reduce`` None) or combined there ('add',
    'multiply')."""

    @staticmethod
    def forward(ctx, x, values, key, reduce):
        ctx.key, ctx.reduce, ctx.values_ndim = key, reduce, np.ndim(values)
        out = x.copy()
        key.write(out, values, reduce)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.reduce == "multiply":
            raise RuntimeError("the derivative of scatter with reduce='multiply' is not implemented")
        grad_x = grad_values = None
        if ctx.needs_input_grad[0]:
            # written places were overwritten: the old values there get no gradient
            grad_x = grad if ctx.reduce == "add" else IndexPut.apply(grad, 0, ctx.key, None)
        if ctx.needs_input_grad[1]:
            grad_values = Index.apply(grad, ctx.key)
            extra = ctx.values_ndim - grad_values.ndim
            if extra > 0:  # values may carry extra leading size-1 dims, as in NumPy and PyTorch
                grad_values = grad_values.reshape((1,) * extra + tuple(grad_values.shape))
        return grad_x, grad_values, None, None


# ---- parsing a key ---------------------------------------------------------------------------

def _index_item(op, item, xp):
    """One element of a key, normalized: None, Ellipsis, a slice, an int, or an index array (a copy,
    so that later in-place changes of the index do not change the gradient)."""
    if item is None or item is Ellipsis or isinstance(item, slice):
        return item
    if isinstance(item, (bool, np.bool_)):
        return xp.asarray(bool(item))
    if isinstance(item, numbers.Integral):
        return int(item)
    if isinstance(item, Tensor):
        array = item._data
    elif isinstance(item, (list, tuple, np.ndarray)):
        array = np.asarray(item, dtype=np.int64 if len(item) == 0 else None)
    else:
        raise IndexError(f"{op}: only integers, slices (`:`), ellipsis (`...`), None and long or bool "
                         f"tensors are valid indices (got {type(item).__name__})")
    if array.dtype.kind == "i" and array.ndim == 0:
        return int(array)  # a 0-d integer index selects, like an int (as in PyTorch)
    if array.dtype.kind not in "bi":
        raise IndexError(f"{op}: tensors used as indices must be long, int or bool tensors (got "
                         f"{array.dtype})")
    return xp.array(array)


def _dims_consumed(item):
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, (int, slice)):
        return 1
    return item.ndim if item.dtype.kind == "b" else 1


def _check_bounds(op, index, size, dim, negative=False):
    """IndexError unless every index is in [0, size), or in [-size, size) with ``negative``."""
    if isinstance(index, int):
        low = high = index
    elif index.size:
        low, high = int(index.min()), int(index.max())
    else:
        return
    bad = high if high >= size else low if low < (-size if negative else 0) else None
    if bad is not None:
        raise IndexError(f"{op}: index {bad} is out of bounds for dimension {dim} with size {size}")


def _parse_key(op, tensor, key):
    """PyTorch's index ``key`` of ``tensor`` as a _Key; raises IndexError naming ``op``."""
    xp = array_module(tensor._data)
    shape = tensor.shape
    items = [_index_item(op, item, xp) for item in (key if isinstance(key, tuple) else (key,))]
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
    consumed = sum(_dims_consumed(item) for item in items)
    if consumed > len(shape):
        raise IndexError(f"{op}: too many indices for tensor of dimension {len(shape)} "
                         f"(shape {tuple(shape)})")
    basic, advanced, dim = [], [], 0
    for item in items:
        if item is Ellipsis:
            skipped = len(shape) - consumed
            basic += [slice(None)] * skipped
            advanced += [slice(None)] * skipped
            dim += skipped
        elif item is None:
            basic.append(None)
            advanced.append(slice(None))
        elif isinstance(item, int):
            _check_bounds(op, item, shape[dim], dim, negative=True)
            basic.append(item)
            dim += 1
        elif isinstance(item, slice):
            basic.append(item)
            advanced.append(slice(None))
            dim += 1
        elif item.dtype.kind == "b" and item.ndim == 0:
            # True/False adds a dim of size 1/0: a new dim, masked
            basic.append(None)
            advanced.append(item.reshape(1))
        elif item.dtype.kind == "b":
            for j, n in enumerate(item.shape):
                if shape[dim + j] != n:
                    raise IndexError(f"{op}: The shape of the mask {list(item.shape)} at index {j} does "
                                     f"not match the shape of the indexed tensor {list(shape)} at index "
                                     f"{dim + j}")
            basic += [slice(None)] * item.ndim
            advanced.append(item)
            dim += item.ndim
        else:
            _check_bounds(op, item, shape[dim], dim, negative=True)
            basic.append(slice(None))
            advanced.append(item)
            dim += 1
    arrays = [a for a in advanced if not isinstance(a, slice)]
    if len(arrays) > 1:
        # a mask of k dims acts as k index arrays of its number of True elements
        shapes = [a.shape if a.dtype.kind != "b" else (int(a.sum()),) for a in arrays]
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            raise IndexError(f"{op}: shape mismatch: indexing tensors could not be broadcast together "
                             f"with shapes {', '.join(str(list(s)) for s in shapes)}") from None
    return _Key(tuple(basic) + (Ellipsis,), tuple(advanced) if arrays else None)


# ---- tensor[key] and tensor[key] = value ---------------------------------------------------

def _getitem(self, key):
    """``self[key]`` with PyTorch's semantics: ints, slices, None, Ellipsis, integer index tensors
    or lists, bool masks, and mixes of them. Keys without index arrays give views. Negative
    slice steps are accepted (PyTorch refuses them)."""
    key = _parse_key("__getitem__", self, key)
    out = Index.apply(self, key)
    return as_view(out, self) if key.advanced is None else out


def _setitem(self, key, value):
    """``self[key] = value``: a number, or a tensor broadcast to the indexed shape and cast to
    self's dtype. With autograd, the gradient reaches both the old tensor (zero at the written
    places) and ``value``; without it, the write goes straight into self's memory."""
    key = _parse_key("__setitem__", self, key)
    if not isinstance(value, (Tensor, numbers.Number)):
        value = Tensor(array_module(self._data).asarray(value))
    if isinstance(value, Tensor):
        if value.device != self.device:
            # as PyTorch: only a 0-d cpu value may be written into a tensor on another device
            if value.ndim or value.device.type != "cpu":
                raise RuntimeError(f"__setitem__: Expected all tensors to be on the same device, but "
                                   f"found at least two devices, {self.device} and {value.device}!")
            value = value.to(self.device)
        value = value.to(self.dtype)
    if _tracks_grad(self, (value,)):
        inplace_update(self, _put, key, value, op_name="__setitem__")
        return
    if not getattr(self._data.flags, "writeable", True):
        raise RuntimeError(f"__setitem__: the written-to tensor's memory is read-only (an expanded "
                           f"tensor, or from_numpy of a non-writeable array; shape {list(self.shape)}). "
                           f"Please clone() the tensor first.")
    key.write(self._data, value._data if isinstance(value, Tensor) else value)
    self._version[0] += 1


def _put(input, key, values):
    return IndexPut.apply(input, values, key, None)


# ---- gather and scatter ------------------------------------------------------------------------

def _require_dims(op, input):
    if input.ndim == 0:
        raise RuntimeError(f"{op}(): a 0-d input is not supported; reshape it to 1-d first")


def _check_along_dim(op, input, dim, index, src=None):
    """PyTorch's checks of gather/scatter; returns the wrapped dim."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._data.dtype != np.int64:
        raise RuntimeError(f"{op}(): Expected dtype int64 for index (got {index.dtype})")
    _require_dims(op, input)
    dim = _wrap_dim(dim, input.ndim, op)
    for name, other in (("input", input), ("src", src)):
        if other is not None and index.ndim != other.ndim:
            raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as {name} "
                               f"tensor (index shape {list(index.shape)}, {name} shape "
                               f"{list(other.shape)})")
    for d in range(input.ndim):
        if (d != dim and index.shape[d] > input.shape[d]) or (src is not None and
                                                               index.shape[d] > src.shape[d]):
            raise RuntimeError(f"{op}(): Size does not match at dimension {d}: expected index "
                               f"{list(index.shape)} to be no larger than self {list(input.shape)} "
                               f"apart from dimension {dim}" +
                               (f" and to be no larger than src {list(src.shape)}" if src is not None
                                else ""))
    _check_bounds(f"{op}()", index._data, input.shape[dim], dim)
    return dim


def _along_dim_key(index, dim):
    """The key that reads, for every position p of ``index``, the input at p with p[dim] replaced
    by index[p]: gather reads there, scatter writes there."""
    xp = array_module(index)
    ndim = index.ndim
    return _Key((Ellipsis,), tuple(
        index.copy() if d == dim else xp.arange(n).reshape((n,) + (1,) * (ndim - d - 1))
        for d, n in enumerate(index.shape)))


def gather(input, dim, index):
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` for dim 0, likewise for other dims. ``index``
    (int64, values in [0, size of dim)) has input's number of dims and is no larger than input
    apart from ``dim``. Shapes: input (*), index (*i) -> (*i)."""
    dim = _check_along_dim("gather", input, dim, index)
    return Index.apply(input, _along_dim_key(index._data, dim))


def _scatter(op, input, dim, index, source, reduce):
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError(f"{op}(): Expected reduce argument to be either add or multiply "
                           f"(got {reduce!r})")
    if isinstance(source, Tensor):
        if source._data.dtype != input._data.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype (got "
                               f"{input.dtype} and {source.dtype})")
        dim = _check_along_dim(op, input, dim, index, source)
        values = source[tuple(slice(0, n) for n in index.shape)]
    elif isinstance(source, numbers.Number):
        dim = _check_along_dim(op, input, dim, index)
        values = source
    else:
        raise TypeError(f"{op}(): src must be a Tensor or a number, not {type(source).__name__}")
    return IndexPut.apply(input, values, _along_dim_key(index._data, dim), reduce)


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """``input`` with ``src[p]`` (or the number ``value``) written, for every position p of
    ``index``, at p with p[dim] replaced by index[p]: the inverse of ``gather``. ``reduce`` 'add' or
    'multiply' combines with the value there instead (no gradient for 'multiply'). When an index
    repeats a target without reduce, one of the values is kept. Shapes: input (*), index (*i),
    src (*s) with i <= s elementwise -> (*)."""
    return _scatter("scatter", input, dim, index, src if src is not None else value, reduce)


def scatter_add(input, dim, index, src):
    """``scatter`` that adds ``src`` into ``input`` (repeated targets accumulate). Shapes: as
    ``scatter``."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add(): argument 'src' must be Tensor, not {type(src).__name__}")
    return _scatter("scatter_add", input, dim, index, src, "add")


# ---- index_select and friends: one index vector along a dim ---------------------------------

def _vector_key(op, input, dim, index):
    """Checks of a 1-d (or 0-d) integer index into ``dim``; returns (dim, its _Key)."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._data.dtype.kind != "i":
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index (got {index.dtype})")
    if index.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector (got shape {list(index.shape)})")
    _require_dims(op, input)
    dim = _wrap_dim(dim, input.ndim, op)
    positions = index._data.reshape(-1)
    _check_bounds(f"{op}()", positions, input.shape[dim], dim)
    return dim, _Key((Ellipsis,), (slice(None),) * dim + (positions.copy(),))


def index_select(input, dim, index):
    """The slices of ``dim`` at ``index`` (a 1-d integer tensor; repeats allowed). Shape:
    (*a, n, *b), index (k,) -> (*a, k, *b)."""
    _, key = _vector_key("index_select", input, dim, index)
    return Index.apply(input, key)


def index_add(input, dim, index, source, *, alpha=1):
    """``input`` with ``alpha * source`` added to the slices of ``dim`` at ``index`` (repeats
    accumulate). Shapes: input (*a, n, *b), index (k,), source (*a, k, *b) -> (*a, n, *b)."""
    dim, key = _vector_key("index_add", input, dim, index)
    count = key.advanced[dim].size
    if tuple(source.shape) != input.shape[:dim] + (count,) + input.shape[dim + 1:]:
        raise RuntimeError(f"index_add(): source tensor shape must match self tensor shape, excluding "
                           f"the specified dimension. Got self.shape = {list(input.shape)} "
                           f"source.shape = {list(source.shape)} with {count} indices at dimension {dim}")
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(f"index_add(): self ({input.dtype}) and source ({source.dtype}) must have "
                           f"the same scalar type")
    return IndexPut.apply(input, source if alpha == 1 else source * alpha, key, "add")


def _fill_value(op, input, value):
    """A fill value as the input's dtype: a number (cast, as PyTorch does) or a 0-d tensor."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"{op} only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        return value.to(input.dtype)
    return input._data.dtype.type(value).item()


def index_fill(input, dim, index, value):
    """``input`` with the slices of ``dim`` at ``index`` set to ``value`` (a number or a 0-d tensor).
    Shapes: input (*), index (k,) -> (*)."""
    dim, key = _vector_key("index_fill", input, dim, index)
    # one write per slice, however often the index repeats it: the value's gradient counts it once
    positions = array_module(key.advanced[dim]).unique(key.advanced[dim])
    key = _Key(key.basic, key.advanced[:dim] + (positions,))
    return IndexPut.apply(input, _fill_value("index_fill", input, value), key, None)


def index_put(input, indices, values, accumulate=False):
    """``input`` with ``input[indices] = values`` (or ``+=``, accumulating repeats, with
    ``accumulate``). ``indices`` is a tuple of index tensors, as in ``tensor[indices]``.
    Shapes: input (*), values broadcastable to input[indices] -> (*)."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put(): argument 'indices' must be a tuple of Tensors, not "
                        f"{type(indices).__name__}")
    if values._data.dtype != input._data.dtype:
        raise RuntimeError(f"index_put(): Index put requires the source and destination dtypes match, "
                           f"got {input.dtype} for the destination and {values.dtype} for the source.")
    key = _parse_key("index_put", input, tuple(indices))
    return IndexPut.apply(input, values, key, "add" if accumulate else None)


# ---- masks ---------------------------------------------------------------------------------------

def _check_mask(op, mask):
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}")


def masked_fill(input, mask, value):
    """``value`` (a number or a 0-d tensor, cast to input's dtype) where ``mask`` is True, else
    ``input``. Shapes: input (*a), mask (*m) -> broadcast(a, m); ``masked_fill_`` needs that to be
    input's shape."""
    _check_mask("masked_fill", mask)
    return where(mask, _fill_value("masked_fill", input, value), input)


def masked_select(input, mask):
    """The elements where ``mask`` is True, after broadcasting the two, in row-major order.
    Shapes: input (*a), mask (*m) -> (number of True in broadcast mask,)."""
    _check_mask("masked_select", mask)
    try:
        shape = np.broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise broadcast_error("masked_select", input.shape, mask.shape) from None
    selected = array_module(mask._data).broadcast_to(mask._data, shape).copy()
    return Index.apply(input.expand(shape), _Key((Ellipsis,), (selected,)))


def take_along_dim(input, indices, dim=None):
    """``gather`` after broadcasting ``input`` and ``indices`` in every dim but ``dim``; negative
    indices count from the end. With ``dim=None`` both are flattened first. Shapes: input (*a),
    indices (*i) -> broadcast of a and i with i's size at ``dim`` (or (numel(i),))."""
    if not isinstance(indices, Tensor) or indices._data.dtype != np.int64:
        raise RuntimeError(f"take_along_dim(): dtype of indices should be Long but got "
                           f"{indices.dtype if isinstance(indices, Tensor) else type(indices).__name__}")
    if dim is None:
        return take_along_dim(input.reshape(-1), indices.reshape(-1), 0)
    _require_dims("take_along_dim", input)
    if input.ndim != indices.ndim:
        raise RuntimeError(f"take_along_dim(): input and indices should have the same number of "
                           f"dimensions, but got {input.ndim} dimensions for input, and {indices.ndim} "
                           f"dimensions for indices")
    dim = _wrap_dim(dim, input.ndim, "take_along_dim")
    _check_bounds("take_along_dim()", indices._data, input.shape[dim], dim, negative=True)
    try:
        shape = list(np.broadcast_shapes(input.shape[:dim] + (1,) + input.shape[dim + 1:],
                                         indices.shape[:dim] + (1,) + indices.shape[dim + 1:]))
    except ValueError:
        raise broadcast_error("take_along_dim", input.shape, indices.shape) from None
    shape[dim] = input.shape[dim]
    source = input.expand(shape)
    shape[dim] = indices.shape[dim]
    positions = array_module(indices._data).broadcast_to(indices._data, shape)
    return Index.apply(source, _along_dim_key(positions, dim))


# ---- integer results, no gradient ----------------------------------------------------------------

def one_hot(tensor, num_classes=-1):
    """Class indices (int64, in [0, num_classes)) as one-hot vectors; ``num_classes=-1`` infers
    max + 1. No gradient. Shape: (*) -> (*, num_classes), int64."""
    if not isinstance(tensor, Tensor) or tensor._data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    data = tensor._data
    if num_classes == -1:
        if data.size == 0:
            raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor.")
        num_classes = int(data.max()) + 1
    if data.size and int(data.min()) < 0:
        raise RuntimeError(f"one_hot: Class values must be non-negative (got {int(data.min())}).")
    if data.size and int(data.max()) >= num_classes:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}), "
                           f"got {int(data.max())}.")
    xp = array_module(data)
    return Tensor((data[..., None] == xp.arange(num_classes)).astype(xp.int64))


def nonzero(input, *, as_tuple=False):
    """Indices of the non-zero elements, in row-major order: an int64 tensor of shape (count, ndim),
    or with ``as_tuple`` one (count,) tensor per dim (a 0-d input counts as 1-d). No gradient."""
    xp = array_module(input._data)
    if as_tuple:
        return tuple(Tensor(i.astype(xp.int64, copy=False))
                     for i in xp.nonzero(xp.atleast_1d(input._data)))
    return Tensor(xp.argwhere(input._data).astype(xp.int64, copy=False))


Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem
for _name in __all__:
    if _name != "one_hot":
        setattr(Tensor, _name, globals()[_name])
bind_inplace_methods(globals(), ["masked_fill", "scatter", "scatter_add", "index_add", "index_fill",
                                 "index_put"])
