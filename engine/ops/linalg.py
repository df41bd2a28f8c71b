"""Linear algebra: the matrix product ``matmul`` and its special cases (``mm``, ``bmm``, ``mv``,
``dot``, ``outer``, ``addmm``), ``einsum``, and the transpose ``t``.

Every matrix product is one Function, ``Matmul``, on operands of at least 2 dims whose batch dims
broadcast: the public ops check shapes and dtypes, turn vectors into matrices and back with
reshapes, and call it. Its backward is two matmuls with transposed operands, so it is
differentiable again; ``einsum``'s backward is made of einsums for the same reason.
"""
import collections
import string

import numpy as np

from ... import kernels
from ..device import array_module
from ..function import Function
from ..tensor import Tensor
from .elementwise import add, mul
from .operands import check_same_device
from .shape import transpose

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "outer", "addmm", "einsum", "t"]

# PyTorch's (C++) names of element types, for its dtype-mismatch message
_SCALAR_NAMES = {"float16": "c10::Half", "float32": "float", "float64": "double", "int64": "long int",
                 "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
                 "bool": "bool"}


def _check_operands(op, tensors, ndims=None):
    """Tensors on one device with one dtype (no promotion, as in PyTorch) and, if given, these
    numbers of dims."""
    for i, x in enumerate(tensors):
        if not isinstance(x, Tensor):
            raise TypeError(f"{op}(): argument {i} must be Tensor, not {type(x).__name__}")
    check_same_device(op, *tensors)
    if ndims is not None and any(x.ndim != n for x, n in zip(tensors, ndims)):
        raise RuntimeError(f"{op}: expected {' and '.join(f'{n}-D' for n in ndims)} tensors, but got "
                           f"shapes {' and '.join(str(tuple(x.shape)) for x in tensors)}")
    first = tensors[0]._data.dtype
    for x in tensors[1:]:
        if x._data.dtype != first:
            raise RuntimeError(f"{op}: expected {'m1 and m2' if len(tensors) == 2 else 'all operands'} "
                               f"to have the same dtype, but got: {_SCALAR_NAMES[first.name]} != "
                               f"{_SCALAR_NAMES[x._data.dtype.name]}")
    if first == np.bool_:
        raise RuntimeError(f"{op}: not implemented for 'Bool' tensors")


def _check_inner(op, input, other, size, other_size):
    if size != other_size:
        raise RuntimeError(f"{op}: {tuple(input.shape)} @ {tuple(other.shape)}: inner dimensions "
                           f"{size} and {other_size} differ")


def _transpose(x):
    """The last two dims swapped (a view)."""
    return transpose(x, -2, -1)


class Matmul(Function):
    """``a @ b`` for operands of at least 2 dims: matrices in the last two, batch dims broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return kernels.dispatch("matmul", a)(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad_b = None
        # dL/da = grad b^T, dL/db = a^T grad; the engine sums broadcast batch dims back down
        if ctx.needs_input_grad[0]:
            grad_a = Matmul.apply(grad, _transpose(b))
        if ctx.needs_input_grad[1]:
            if b.ndim == 2 and a.ndim > 2:
                # one matrix shared by the batch: fold the batch into the rows, one product instead
                # of a batch of products summed afterwards
                rows, grad_rows = a.reshape(-1, a.shape[-1]), grad.reshape(-1, grad.shape[-1])
                grad_b = Matmul.apply(_transpose(rows), grad_rows)
            else:
                grad_b = Matmul.apply(_transpose(a), grad)
        return grad_a, grad_b


def matmul(input, other):
    """Matrix product with PyTorch's rules: 1-D @ 1-D is the dot product (0-d); 2-D @ 2-D the
    matrix product; a 1-D operand is a row (left) or column (right) vector whose dim leaves the
    result; operands with more dims are batches of matrices whose batch dims broadcast.
    Shapes: (k) @ (k) -> (); (*a, n, k) @ (*b, k, m) -> (*broadcast(a, b), n, m)."""
    _check_operands("matmul", (input, other))
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(f"matmul: both arguments to matmul need to be at least 1D, but they are "
                           f"{input.ndim}D and {other.ndim}D")
    a = input.reshape(1, -1) if input.ndim == 1 else input
    b = other.reshape(-1, 1) if other.ndim == 1 else other
    _check_inner("matmul", input, other, a.shape[-1], b.shape[-2])
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise RuntimeError(f"matmul: {tuple(input.shape)} @ {tuple(other.shape)}: batch dimensions "
                           f"{tuple(a.shape[:-2])} and {tuple(b.shape[:-2])} do not broadcast") from None
    out = Matmul.apply(a, b)
    shape = batch + (a.shape[-2],) * (input.ndim > 1) + (b.shape[-1],) * (other.ndim > 1)
    return out if out.shape == shape else out.reshape(shape)


def mm(input, mat2):
    """Product of two matrices, no broadcasting. Shapes: (n, k) @ (k, m) -> (n, m)."""
    _check_operands("mm", (input, mat2), (2, 2))
    _check_inner("mm", input, mat2, input.shape[1], mat2.shape[0])
    return Matmul.apply(input, mat2)


def bmm(input, mat2):
    """Batched matrix product, no broadcasting. Shapes: (b, n, k) @ (b, k, m) -> (b, n, m)."""
    _check_operands("bmm", (input, mat2), (3, 3))
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: {tuple(input.shape)} @ {tuple(mat2.shape)}: batch sizes "
                           f"{input.shape[0]} and {mat2.shape[0]} differ")
    _check_inner("bmm", input, mat2, input.shape[2], mat2.shape[1])
    return Matmul.apply(input, mat2)


def mv(input, vec):
    """Matrix-vector product. Shapes: (n, k) @ (k) -> (n)."""
    _check_operands("mv", (input, vec), (2, 1))
    _check_inner("mv", input, vec, input.shape[1], vec.shape[0])
    return Matmul.apply(input, vec.reshape(-1, 1)).reshape(input.shape[0])


def dot(input, tensor):
    """Dot product of two vectors of one size. Shapes: (k), (k) -> ()."""
    _check_operands("dot", (input, tensor), (1, 1))
    _check_inner("dot", input, tensor, input.shape[0], tensor.shape[0])
    return Matmul.apply(input.reshape(1, -1), tensor.reshape(-1, 1)).reshape(())


def outer(input, vec2):
    """Outer product of two vectors (dtypes promote, as in PyTorch). Shapes: (n), (m) -> (n, m)."""
    for name, x in (("self", input), ("vec2", vec2)):
        if not isinstance(x, Tensor):
            raise TypeError(f"outer(): argument '{name}' must be Tensor, not {type(x).__name__}")
        if x.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {x.ndim}-D "
                               f"(shape {tuple(x.shape)})")
    return mul(input.reshape(-1, 1), vec2)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``, ``input`` broadcast to the product's shape; with
    ``beta=0``, ``input`` is ignored (its NaNs too). Shapes: (*i), (n, k), (k, m) -> (n, m)."""
    _check_operands("addmm", (input, mat1, mat2))
    product = mm(mat1, mat2)
    try:
        input = input.expand(product.shape)
    except RuntimeError:
        raise RuntimeError(f"addmm: input of shape {tuple(input.shape)} does not broadcast to the shape "
                           f"{tuple(product.shape)} of {tuple(mat1.shape)} @ {tuple(mat2.shape)}") from None
    if beta == 0:
        return product if alpha == 1 else mul(product, alpha)
    return add(input if beta == 1 else mul(input, beta), product, alpha=alpha)


def t(input):
    """Transpose of a matrix, a view; 0-D and 1-D tensors are returned as they are.
    Shape: (n, m) -> (m, n)."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D "
                           f"(shape {tuple(input.shape)})")
    return _transpose(input) if input.ndim == 2 else input


# ---- einsum -------------------------------------------------------------------------------------

# Subscript letters in ASCII order, the order of an implicit output.
_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def _parse_einsum(equation, shapes):
    """Rewrite ``equation`` for operands of ``shapes`` as explicit terms without '...' (its dims
    get letters the equation does not use, right-aligned across operands as in broadcasting).
    Returns (input terms, output term, size of each letter), with PyTorch's errors."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        which = "more" if len(shapes) > len(terms) else "fewer"
        raise RuntimeError(f"einsum(): {which} operands were provided than specified in the equation "
                           f"'{equation}' ({len(shapes)} operands for {len(terms)} terms)")
    for term in terms + [rhs]:
        invalid = [c for c in term.replace("...", "", 1) if c not in _LETTERS]
        if invalid:
            raise RuntimeError(f"einsum(): invalid subscript '{invalid[0]}' in the equation '{equation}': "
                               f"subscripts must be in [a-zA-Z], with at most one '...' per term")
    batch_ndims = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term.replace("...", ""))
        if "..." not in term and named != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) does not "
                               f"match the number of dimensions ({len(shape)}) for operand {i} and no "
                               f"ellipsis was given")
        if named > len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) is more "
                               f"than the number of dimensions ({len(shape)}) for operand {i}")
        batch_ndims.append(len(shape) - named)
    unused = [c for c in _LETTERS if c not in equation]
    batch = "".join(unused[:max(batch_ndims)])
    if len(batch) < max(batch_ndims):
        raise RuntimeError(f"einsum(): too many dimensions under '...' for the letters left unused by "
                           f"'{equation}'")
    terms = [term.replace("...", batch[len(batch) - n:]) for term, n in zip(terms, batch_ndims)]

    if arrow:
        output = rhs.replace("...", batch)
        for c in output:
            if output.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
            if c not in lhs and c not in batch:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for "
                                   f"any input operand")
    else:  # implicit output: the batch dims, then the letters that appear once, in ASCII order
        counts = collections.Counter("".join(terms))
        output = batch + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in batch))

    sizes = {}
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        own = {}
        for c, size in zip(term, shape):
            if own.setdefault(c, size) != size:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but the sizes "
                                   f"don't match, {own[c]} != {size}")
            known = sizes.get(c, 1)
            if size != known and size != 1 and known != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {size} for operand {i} which does "
                                   f"not broadcast with previously seen size {known}")
            sizes[c] = size if known == 1 else known
    return terms, output, sizes


def _einsum_operand_grad(grad, operands, inputs, output, k):
    """dL/d(operand k): the einsum of ``grad`` (letters ``output``) with the other operands, into
    operand k's letters. A letter repeated in operand k (a diagonal) takes a fresh letter tied to
    it by an identity matrix; a letter of operand k alone (summed over) is broadcast back."""
    xp = array_module(grad._data)
    fresh = iter(c for c in _LETTERS if c not in "".join(inputs))
    terms = [output] + [term for j, term in enumerate(inputs) if j != k]
    tensors = [grad] + [x for j, x in enumerate(operands) if j != k]
    target = ""
    for c, size in zip(inputs[k], operands[k].shape):
        if c in target:
            letter = next(fresh)
            terms.append(c + letter)
            tensors.append(Tensor(xp.eye(size, dtype=grad._data.dtype)))
            target += letter
        else:
            target += c
    present = set("".join(terms))
    kept = "".join(c for c in target if c in present)
    g = Einsum.apply(*tensors, inputs=terms, output=kept)
    if kept == target:
        return g
    shape = operands[k].shape
    return g.reshape(tuple(s if c in present else 1 for c, s in zip(target, shape))).expand(shape)


class Einsum(Function):
    """``einsum`` on explicit terms (no '...') whose letters have one size across operands."""

    @staticmethod
    def forward(ctx, *operands, inputs, output):
        xp = array_module(operands[0])
        ctx.inputs, ctx.output = inputs, output
        ctx.save_for_backward(*operands)
        out = xp.asarray(xp.einsum(",".join(inputs) + "->" + output, *operands, optimize=len(operands) > 1))
        # einsum may return a view of an operand ('ii->i', 'ij->ji') or a transposed layout: the output
        # owns its memory, in C order like matmul's
        if not out.flags.c_contiguous or any(xp.may_share_memory(out, x) for x in operands):
            out = out.copy()
        return out

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        return tuple(_einsum_operand_grad(grad, operands, ctx.inputs, ctx.output, k) if needed else None
                     for k, needed in enumerate(ctx.needs_input_grad))


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum``: ``equation`` names the dims of each operand with
    letters ('ij,jk->ik'); letters left out of the output are summed over. Without '->', the output
    is the letters that appear once, in ASCII order. A letter repeated in one operand takes its
    diagonal ('ii->i'; 'ii' is the trace); '...' stands for broadcast batch dims; size-1 dims
    broadcast. The operands may also come as one list. Shape: the output letters' sizes."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    _check_operands("einsum", operands)
    inputs, output, sizes = _parse_einsum(equation, [x.shape for x in operands])
    operands = [x.expand(tuple(sizes[c] for c in term)) for x, term in zip(operands, inputs)]
    return Einsum.apply(*operands, inputs=inputs, output=output)


for _name in ("matmul", "mm", "bmm", "mv", "dot", "outer", "addmm", "t"):
    setattr(Tensor, _name, globals()[_name])
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
