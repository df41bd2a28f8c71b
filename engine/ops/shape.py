"""Shape ops: reshape, expand, permute, cat, split, pad and friends. Their gradients only move
elements around.

Ops whose NumPy result shares memory with the input return a *view*: it shares the input's version
counter, so an in-place change through either is seen by backward. Slicing ops (``narrow``,
``select``, ``split``...) go through ``Tensor.__getitem__`` (engine/ops/indexing.py), whose backward
scatters the gradient back into the input's shape.
"""
import itertools
import math
import numbers

import numpy as np

from ..device import array_module
from ..function import Function
from ..tensor import Tensor, _wrap_dim
from .inplace import bind_inplace_methods
from .operands import promote
from .reduction import normalize_dims

__all__ = ["reshape", "expand", "broadcast_to", "flatten", "ravel", "unflatten", "squeeze", "unsqueeze",
           "permute", "transpose", "swapaxes", "swapdims", "movedim", "moveaxis", "tile", "flip", "roll",
           "cat", "concat", "concatenate", "stack", "hstack", "vstack", "split", "chunk", "unbind",
           "narrow", "select", "pad", "tril", "triu", "diagonal", "diag"]


def as_view(out, source):
    """Mark ``out`` as a view of ``source`` when their arrays share memory."""
    data, src = out._data, source._data
    if data.base is not None and array_module(data).may_share_memory(data, src):
        out._version = source._version
        out._base = source._base if source._base is not None else source
    return out


def _shape_arg(op, shape, what="shape"):
    """Accept ``f(2, 3)`` and ``f((2, 3))``."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    try:
        return tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}(): {what} must be a sequence of ints, got {shape!r}") from None


def _infer_size(op, shape, numel, source_shape):
    if list(shape).count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred (shape {list(shape)})")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}: invalid shape dimension {s} in {list(shape)}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                               f"(input shape {tuple(source_shape)})")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                           f"(input shape {tuple(source_shape)})")
    return shape


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape), None


def reshape(input, *shape):
    """The same elements in a new shape (one dim may be -1); a view when memory allows, else a copy.
    Shape: (*) -> shape."""
    shape = _infer_size("reshape", _shape_arg("reshape", shape), input._data.size, input.shape)
    return as_view(Reshape.apply(input, shape), input)


def view(input, *shape):
    """Like ``reshape`` but always a view: raises if the memory layout does not allow one."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)):
        return input.to(shape[0])  # view(dtype) is not supported as a reinterpretation
    shape = _infer_size("view", _shape_arg("view", shape), input._data.size, input.shape)
    out = Reshape.apply(input, shape)
    if input._data.size and not array_module(out._data).shares_memory(out._data, input._data):
        raise RuntimeError(f"view size is not compatible with input tensor's size and stride (input "
                           f"shape {tuple(input.shape)}, stride {input.stride()}, target {list(shape)})"
                           f". Use .reshape(...) instead.")
    return as_view(out, input)


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.sum_to_size(ctx.shape), None


def expand(input, *sizes):
    """Broadcast size-1 dims to ``sizes`` without copying (-1 keeps a dim); new leading dims may be
    added. Shape: (*) -> sizes."""
    sizes = _shape_arg("expand", sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or "
                           f"equal to the number of dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"expand: the expanded size of the tensor (-1) isn't allowed in a "
                                   f"leading, non-existing dimension {i}")
            target.append(s)
            continue
        current = shape[i - lead]
        if s == -1:
            s = current
        if current != s and current != 1:
            raise RuntimeError(f"expand: The expanded size of the tensor ({s}) must match the existing "
                               f"size ({current}) at non-singleton dimension {i}.  Target sizes: "
                               f"{list(sizes)}.  Tensor sizes: {list(shape)}")
        target.append(s)
    target = tuple(target)
    if target == shape:
        return input
    return as_view(Expand.apply(input, target), input)


def broadcast_to(input, size):
    """``expand`` to ``size`` (PyTorch's ``broadcast_to``). Shape: (*) -> size."""
    return expand(input, tuple(size))


def expand_as(input, other):
    return expand(input, other.shape)


def _unpacked_dims_method(op):
    """``op(input, dims)`` as a Tensor method that also takes the dims unpacked: ``x.flip(0, 1)``."""
    def method(self, *dims, **kwargs):
        if kwargs:
            return op(self, *dims, **kwargs)
        return op(self, dims[0] if len(dims) == 1 else dims)
    method.__name__, method.__doc__ = op.__name__, op.__doc__
    return method


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim``..``end_dim`` into one (a view when memory allows); a 0-d input becomes
    1-d. Shape: (*a, n_1, ..., n_k, *b) -> (*a, n_1 * ... * n_k, *b)."""
    if input.ndim == 0:
        return reshape(input, 1)
    start = _wrap_dim(start_dim, input.ndim, "flatten")
    end = _wrap_dim(end_dim, input.ndim, "flatten")
    if start > end:
        raise RuntimeError(f"flatten() has invalid args: start_dim ({start_dim}) cannot come after "
                           f"end_dim ({end_dim}) (input shape {tuple(input.shape)})")
    shape = input.shape
    return reshape(input, shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


def ravel(input):
    """All elements in one dim (a view when memory allows). Shape: (*) -> (numel,)."""
    return flatten(input)


def unflatten(input, dim, sizes):
    """Split dim ``dim`` into ``sizes`` (one may be -1); a view. Shape: (*a, n, *b) -> (*a, *sizes, *b)
    with prod(sizes) == n."""
    dim = _wrap_dim(dim, input.ndim, "unflatten")
    sizes = _shape_arg("unflatten", (sizes,), "sizes")
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    size = input.shape[dim]
    try:
        sizes = _infer_size("unflatten", sizes, size, input.shape)
    except RuntimeError:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of "
                           f"dim {dim} ({size}) in the input tensor of shape {tuple(input.shape)}") from None
    return reshape(input, input.shape[:dim] + sizes + input.shape[dim + 1:])


def squeeze(input, dim=None):
    """Remove size-1 dims: all of them, or those among ``dim`` (an int or a tuple; dims of another
    size are left alone). A view. Shape: (*) -> (*) without the squeezed 1s."""
    dims = normalize_dims(dim, input.ndim, "squeeze")
    shape = tuple(s for i, s in enumerate(input.shape) if s != 1 or (dims is not None and i not in dims))
    return reshape(input, shape)


def unsqueeze(input, dim):
    """Insert a size-1 dim at ``dim`` (in [-ndim-1, ndim]); a view. Shape: (*a, *b) -> (*a, 1, *b)."""
    dim = _wrap_dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return array_module(x).transpose(x, dims)

    @staticmethod
    def backward(ctx, grad):
        return grad.permute(ctx.inverse), None


def permute(input, dims):
    """Reorder the dims: output dim i is input dim ``dims[i]``; a view. Shape: (n_0, ..., n_k) ->
    (n_dims[0], ..., n_dims[k])."""
    dims = _shape_arg("permute", (dims,), "dims")
    if len(dims) != input.ndim:
        raise RuntimeError(f"permute(): number of dims don't match in permute: the input has "
                           f"{input.ndim} dims (shape {tuple(input.shape)}) but dims is {list(dims)}")
    wrapped = tuple(_wrap_dim(d, input.ndim, "permute") for d in dims)
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"permute(): duplicate dims are not allowed (dims {list(dims)})")
    return as_view(Permute.apply(input, wrapped), input)


def transpose(input, dim0, dim1):
    """Swap two dims; a view. Shape: (*, n, *, m, *) -> (*, m, *, n, *)."""
    order = list(range(input.ndim))
    a, b = _wrap_dim(dim0, input.ndim, "transpose"), _wrap_dim(dim1, input.ndim, "transpose")
    if order:  # a 0-d tensor has no dims to swap (dims 0 and -1 are accepted, as in PyTorch)
        order[a], order[b] = order[b], order[a]
    return as_view(Permute.apply(input, tuple(order)), input)


def swapaxes(input, axis0, axis1):
    """NumPy's name for ``transpose``."""
    return transpose(input, axis0, axis1)


def swapdims(input, dim0, dim1):
    """Alias of ``transpose``."""
    return transpose(input, dim0, dim1)


def _dim_tuple(dims):
    return (int(dims),) if isinstance(dims, numbers.Integral) else tuple(int(d) for d in dims)


def movedim(input, source, destination):
    """Move dims ``source`` (int or sequence) to positions ``destination``, keeping the order of the
    others; a view. Shape: a permutation of the input's."""
    src, dst = _dim_tuple(source), _dim_tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) "
                           f"should contain the same number of dims as destination ({list(dst)} dims)")
    for name, dims in (("source", src), ("destination", dst)):
        if len({_wrap_dim(d, input.ndim, "movedim") for d in dims}) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(dims)})")
    src = [_wrap_dim(d, input.ndim, "movedim") for d in src]
    dst = [_wrap_dim(d, input.ndim, "movedim") for d in dst]
    order = [d for d in range(input.ndim) if d not in src]
    for position, d in sorted(zip(dst, src)):
        order.insert(position, d)
    return permute(input, order)


moveaxis = movedim


class Repeat(Function):
    @staticmethod
    def forward(ctx, x, repeats):
        ctx.shape, ctx.repeats = x.shape, repeats
        return array_module(x).tile(x, repeats)

    @staticmethod
    def backward(ctx, grad):
        # Output dim i holds repeats[i] copies of input dim i side by side: view it as
        # (repeats[i], size_i) and sum over the copies.
        shape = (1,) * (len(ctx.repeats) - len(ctx.shape)) + tuple(ctx.shape)
        split = tuple(n for pair in zip(ctx.repeats, shape) for n in pair)
        copies = tuple(range(0, len(split), 2))
        return grad.reshape(split).sum(copies).reshape(ctx.shape), None


def repeat(input, *sizes):
    """Tile the tensor ``sizes[i]`` times along dim i (extra leading sizes add dims); a copy.
    Shape: (n_1, ..., n_k) -> (r_1 * n_1, ..., r_k * n_k) with leading 1s added to n."""
    repeats = _shape_arg("repeat", sizes, "repeats")
    if len(repeats) < input.ndim:
        raise RuntimeError(f"repeat: Number of dimensions of repeat dims ({len(repeats)}) can not be "
                           f"smaller than number of dimensions of tensor ({input.ndim})")
    if any(r < 0 for r in repeats):
        raise RuntimeError(f"repeat: Trying to create tensor with negative dimension: repeats "
                           f"{list(repeats)}")
    return Repeat.apply(input, repeats)


def tile(input, dims):
    """``repeat`` where fewer ``dims`` than the tensor has are padded with leading 1s.
    Shape: as ``repeat``."""
    dims = _shape_arg("tile", (dims,), "dims")
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


class Flip(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return array_module(x).flip(x, dims).copy()  # PyTorch's flip copies; NumPy's is a view

    @staticmethod
    def backward(ctx, grad):
        return grad.flip(ctx.dims), None


def flip(input, dims):
    """Reverse the order of elements along ``dims`` (an int or a sequence); a copy.
    Shape: (*) -> (*)."""
    dims = normalize_dims(_shape_arg("flip", (dims,), "dims"), input.ndim, "flip") or ()
    return Flip.apply(input, dims)


class Roll(Function):
    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return array_module(x).roll(x, shifts, dims)

    @staticmethod
    def backward(ctx, grad):
        return Roll.apply(grad, tuple(-s for s in ctx.shifts), ctx.dims), None, None


def roll(input, shifts, dims=None):
    """Shift elements cyclically by ``shifts`` along ``dims`` (ints or sequences of equal length);
    with ``dims=None`` the flattened tensor is rolled. Shape: (*) -> (*)."""
    shifts = _dim_tuple(shifts)
    if dims is not None:
        dims = tuple(_wrap_dim(d, input.ndim, "roll") for d in _dim_tuple(dims))
    if len(shifts) != (1 if dims is None else len(dims)):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: "
                           f"{0 if dims is None else len(dims)}")
    return Roll.apply(input, shifts, dims)


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim, ctx.sizes = dim, [x.shape[dim] for x in xs]
        return array_module(xs[0]).concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        grads, start = [None], 0
        for needed, size in zip(ctx.needs_input_grad[1:], ctx.sizes):
            grads.append(grad.narrow(ctx.dim, start, size) if needed else None)
            start += size
        return tuple(grads)


def _tensor_list(op, tensors):
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}(): argument 'tensors' must be a sequence of Tensors, not Tensor")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{op}(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    return tensors


def cat(tensors, dim=0):
    """Join tensors along an existing dim, promoting them to their common dtype; as in PyTorch,
    1-d empty tensors are skipped. Shapes: (*a, n_i, *b) for each -> (*a, sum(n_i), *b)."""
    tensors = _tensor_list("cat", tensors)
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"cat(): zero-dimensional tensor (at position {i}) cannot be concatenated")
    kept = [(i, t) for i, t in enumerate(tensors) if t.shape != (0,)] or [(0, tensors[0])]
    first = kept[0][1]
    dim = _wrap_dim(dim, first.ndim, "cat")
    for i, t in kept:
        if t.ndim != first.ndim:
            raise RuntimeError(f"cat(): Tensors must have same number of dimensions: got {first.ndim} "
                               f"and {t.ndim}")
        for d in range(first.ndim):
            if d != dim and t.shape[d] != first.shape[d]:
                raise RuntimeError(f"cat(): Sizes of tensors must match except in dimension {dim}. "
                                   f"Expected size {first.shape[d]} but got size {t.shape[d]} for "
                                   f"tensor number {i} in the list.")
    return Cat.apply(dim, *promote("cat", *(t for _, t in kept)))


def concat(tensors, dim=0):
    """Alias of ``cat``."""
    return cat(tensors, dim)


def concatenate(tensors, axis=0):
    """NumPy's name for ``cat``."""
    return cat(tensors, axis)


def stack(tensors, dim=0):
    """Join equally shaped tensors along a new dim. Shapes: k tensors of (*a, *b) -> (*a, k, *b)."""
    tensors = _tensor_list("stack", tensors)
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at "
                               f"entry 0 and {list(t.shape)} at entry {i}")
    dim = _wrap_dim(dim, len(shape) + 1, "stack")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def hstack(tensors):
    """Join column-wise: along dim 0 for 1-d tensors, dim 1 otherwise (0-d tensors count as 1-d)."""
    tensors = [t if t.ndim else reshape(t, 1) for t in _tensor_list("hstack", tensors)]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Join row-wise along dim 0, after making 0-d and 1-d tensors rows (1, n)."""
    return cat([t if t.ndim >= 2 else reshape(t, 1, -1) for t in _tensor_list("vstack", tensors)], 0)


def _nonscalar_dim(op, input, dim):
    if input.ndim == 0:
        raise RuntimeError(f"{op}() cannot be applied to a 0-dim tensor.")
    return _wrap_dim(dim, input.ndim, op)


def narrow(input, dim, start, length):
    """Elements ``start``..``start + length`` of ``dim`` (a negative start counts from the end);
    a view. Shape: (*a, n, *b) -> (*a, length, *b)."""
    dim = _nonscalar_dim("narrow", input, dim)
    size, start, length = input.shape[dim], int(start), int(length)
    if not -size <= start <= size:
        raise IndexError(f"narrow(): start out of range (expected to be in range of [{-size}, {size}], "
                         f"but got {start})")
    start = start + size if start < 0 else start
    if length < 0:
        raise RuntimeError(f"narrow(): length must be non-negative (got {length}).")
    if start + length > size:
        raise RuntimeError(f"narrow(): start ({start}) + length ({length}) exceeds dimension size "
                           f"({size}).")
    return input[(slice(None),) * dim + (slice(start, start + length),)]


def select(input, dim, index):
    """The slice at ``index`` of ``dim``, which is removed; a view. Shape: (*a, n, *b) -> (*a, *b)."""
    dim = _nonscalar_dim("select", input, dim)
    size, index = input.shape[dim], int(index)
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {dim}")
    return input[(slice(None),) * dim + (index,)]


def _split_sizes(input, dim, sizes):
    starts = itertools.accumulate([0] + sizes[:-1])
    return tuple(narrow(input, dim, start, size) for start, size in zip(starts, sizes))


def split(tensor, split_size_or_sections, dim=0):
    """Views of consecutive pieces along ``dim``: of ``split_size`` each (the last may be smaller), or
    of the given list of sizes (which must add up to the dim). Shape: (*a, n, *b) -> tuple of
    (*a, n_i, *b)."""
    dim = _nonscalar_dim("split", tensor, dim)
    size = tensor.shape[dim]
    if isinstance(split_size_or_sections, numbers.Integral):
        step = int(split_size_or_sections)
        if step < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        if step == 0 and size:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension "
                               f"size of {size}")
        sizes = [min(step, size - start) for start in range(0, size, step or 1)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != size or any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input "
                               f"tensor's size at dimension {dim}), but got split_sizes={sizes}")
    return _split_sizes(tensor, dim, sizes)


def chunk(input, chunks, dim=0):
    """Split into ``chunks`` views of ceil(n / chunks) elements along ``dim`` (fewer chunks when
    the sizes run out first, as in PyTorch). Shape: (*a, n, *b) -> tuple of (*a, n_i, *b)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    dim = _nonscalar_dim("chunk", input, dim)
    step = -(-input.shape[dim] // chunks)
    if step == 0:  # an empty dim gives `chunks` empty pieces
        return _split_sizes(input, dim, [0] * chunks)
    return split(input, step, dim)


def unbind(input, dim=0):
    """Every slice along ``dim``, as views. Shape: (*a, n, *b) -> n tensors of (*a, *b)."""
    dim = _nonscalar_dim("unbind", input, dim)
    return tuple(select(input, dim, i) for i in range(input.shape[dim]))


class ConstantPad(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.widths = widths
        shape = tuple(n + before + after for n, (before, after) in zip(x.shape, widths))
        out = array_module(x).full(shape, value, dtype=x.dtype)
        destination, source = [], []
        for n, (before, after) in zip(x.shape, widths):
            # negative widths crop: the kept input elements land after the positive padding
            kept = max(n - max(-before, 0) - max(-after, 0), 0)
            destination.append(slice(max(before, 0), max(before, 0) + kept))
            source.append(slice(max(-before, 0), max(-before, 0) + kept))
        out[tuple(destination)] = x[tuple(source)]
        return out

    @staticmethod
    def backward(ctx, grad):
        # Cropping the padding (and zero-padding what was cropped) is the same op with widths negated.
        return ConstantPad.apply(grad, tuple((-b, -a) for b, a in ctx.widths), 0), None, None


def _pad_positions(mode, size, before, after, dim, shape):
    """For every output position along a padded dim, the input position it copies."""
    def too_large(limit):
        return RuntimeError(f"pad: padding ({before}, {after}) at dimension {dim} of input {list(shape)} "
                            f"is too large for mode '{mode}': it must be at most {limit}")

    positions = np.arange(-before, size + after)
    if mode == "replicate":
        if size == 0:
            raise RuntimeError(f"pad: cannot replicate-pad the empty dimension {dim} of input {list(shape)}")
        return np.clip(positions, 0, size - 1)
    if mode == "reflect":  # mirror at the edge elements, which are not repeated
        if max(before, after) >= size:
            raise too_large(f"{size - 1} (less than the dimension size)")
        last = size - 1
        return last - np.abs(last - np.abs(positions))
    # circular, as PyTorch: crop the negative amounts first, then wrap around what is left
    start = max(-before, 0)
    kept = size - start - max(-after, 0)
    if max(before, after) > kept:
        raise too_large(f"{kept} (wrapping around at most once)")
    return start + np.arange(-max(before, 0), kept + max(after, 0)) % kept


_PAD_MODES = ("reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """PyTorch's ``F.pad``. ``pad`` gives (before, after) amounts from the last dim backwards:
    (left, right, top, bottom, ...); negative amounts crop. Modes: 'constant' (fill with ``value``,
    default 0), 'reflect' (mirror, not repeating the edge; amounts < size), 'replicate' (repeat the
    edge), 'circular' (wrap around; amounts <= size). Unlike PyTorch, the non-constant modes accept
    any number of padded dims. Their gradient accumulates every copy of an element.
    Shape: (*, n_k, ..., n_1) -> (*, n_k + pad[2k-2] + pad[2k-1], ..., n_1 + pad[0] + pad[1])."""
    amounts = [int(p) for p in pad]
    if len(amounts) % 2:
        raise RuntimeError(f"pad: Padding length must be divisible by 2 (got {len(amounts)})")
    if len(amounts) // 2 > input.ndim:
        raise RuntimeError(f"pad: Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(amounts)} and input of dimension "
                           f"{input.ndim}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(amounts) // 2):
        widths[input.ndim - 1 - i] = (amounts[2 * i], amounts[2 * i + 1])
    for dim, (size, (before, after)) in enumerate(zip(input.shape, widths)):
        if size + before + after < 0:
            raise RuntimeError(f"pad: The input size {size}, plus negative padding {before} and {after} "
                               f"resulted in a negative output size, which is invalid. Check dimension "
                               f"{dim} of your input.")
    if mode == "constant":
        return ConstantPad.apply(input, tuple(widths), 0 if value is None else value)
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: Unrecognised padding mode {mode!r} (expected 'constant', "
                                  f"'reflect', 'replicate' or 'circular')")
    if value is not None:
        raise RuntimeError(f'pad: Padding mode "{mode}" doesn\'t take in value argument')
    # Each padded dim is an index_select of computed source positions: its backward (index_add)
    # accumulates the gradient of every copy into the element it came from.
    xp = array_module(input._data)
    out = input
    for dim, (before, after) in enumerate(widths):
        if before or after:
            positions = _pad_positions(mode, input.shape[dim], before, after, dim, input.shape)
            out = out.index_select(dim, Tensor(xp.asarray(positions)))
    return out


class Triangle(Function):
    """``tril`` (upper=False) or ``triu``: zero the elements above (below) the ``diagonal``-th one."""

    @staticmethod
    def forward(ctx, x, diagonal, upper):
        ctx.diagonal, ctx.upper = diagonal, upper
        xp = array_module(x)
        return (xp.triu if upper else xp.tril)(x, diagonal)

    @staticmethod
    def backward(ctx, grad):
        return Triangle.apply(grad, ctx.diagonal, ctx.upper), None, None


def _triangle(op, input, diagonal, upper):
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions (got shape "
                           f"{tuple(input.shape)})")
    return Triangle.apply(input, int(diagonal), upper)


def tril(input, diagonal=0):
    """The lower triangle of the last two dims (diagonal > 0 keeps that many diagonals above the
    main one; < 0 drops some below); the rest is zero. Shape: (*, n, m) -> (*, n, m)."""
    return _triangle("tril", input, diagonal, False)


def triu(input, diagonal=0):
    """The upper triangle of the last two dims (see ``tril`` for ``diagonal``); the rest is zero.
    Shape: (*, n, m) -> (*, n, m)."""
    return _triangle("triu", input, diagonal, True)


def _diagonal_view(xp, array, offset, dim1, dim2):
    view = xp.diagonal(array, offset, dim1, dim2)
    if xp is np and array.flags.writeable:
        view.flags.writeable = True  # NumPy hands out diagonals read-only; PyTorch's are writable views
    return view


class Diagonal(Function):
    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.shape, ctx.args = x.shape, (offset, dim1, dim2)
        return _diagonal_view(array_module(x), x, offset, dim1, dim2)

    @staticmethod
    def backward(ctx, grad):
        return DiagonalBackward.apply(grad, ctx.shape, *ctx.args), None, None, None


class DiagonalBackward(Function):
    """Zeros of ``shape`` with ``grad`` written on a diagonal: the gradient of ``Diagonal``."""

    @staticmethod
    def forward(ctx, grad, shape, offset, dim1, dim2):
        ctx.args = (offset, dim1, dim2)
        xp = array_module(grad)
        out = xp.zeros(shape, grad.dtype)
        _diagonal_view(xp, out, offset, dim1, dim2)[...] = grad
        return out

    @staticmethod
    def backward(ctx, grad):
        return Diagonal.apply(grad, *ctx.args), None, None, None, None


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The ``offset``-th diagonal (> 0 above the main one, < 0 below) of the matrices spanned by
    ``dim1`` and ``dim2``, as a view; it becomes the last dim. Shape: (*, n, *, m, *) -> (*, *, *, k)."""
    a, b = _wrap_dim(dim1, input.ndim, "diagonal"), _wrap_dim(dim2, input.ndim, "diagonal")
    if a == b:
        raise RuntimeError(f"diagonal(): diagonal dimensions cannot be identical {dim1}, {dim2}")
    return as_view(Diagonal.apply(input, int(offset), a, b), input)


def diag(input, diagonal=0):
    """A 1-d input becomes the ``diagonal``-th diagonal of a square matrix (zeros elsewhere); a 2-d
    input gives a copy of its ``diagonal``-th diagonal. Shapes: (n,) -> (n + |d|, n + |d|);
    (n, m) -> (k,)."""
    if input.ndim == 1:
        n = input.shape[0] + abs(int(diagonal))
        return DiagonalBackward.apply(input, (n, n), int(diagonal), 0, 1)
    if input.ndim == 2:
        return Diagonal.apply(input, int(diagonal), 0, 1).clone()
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D (shape {tuple(input.shape)})")


def _matrix_transpose(self):
    if self.ndim < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got "
                           f"{self.ndim}-D tensor.")
    return transpose(self, -2, -1)


for _name in ("reshape", "view", "expand", "expand_as", "broadcast_to", "flatten", "ravel", "unflatten",
              "squeeze", "unsqueeze", "transpose", "swapaxes", "swapdims", "movedim", "moveaxis", "repeat",
              "roll", "split", "chunk", "unbind", "narrow", "select", "tril", "triu", "diagonal", "diag"):
    setattr(Tensor, _name, globals()[_name])
for _name in ("permute", "tile", "flip"):
    setattr(Tensor, _name, _unpacked_dims_method(globals()[_name]))
Tensor.T = property(lambda self: permute(self, tuple(range(self.ndim - 1, -1, -1))),
                    doc="The tensor with its dims reversed (a view).")
Tensor.mT = property(_matrix_transpose, doc="The last two dims swapped (a view).")
bind_inplace_methods(globals(), ["tril", "triu"])
