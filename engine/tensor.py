"""The Tensor: an array, the node that made it, and its gradient.

No math lives here. Ops are defined by family in ``engine/ops/`` and bound to Tensor there as
methods and operators (``Tensor.add = Tensor.__add__ = add``), so a reader finds each op's forward
and backward in one place.
"""
import numpy as np

from . import dtypes
from .device import device_of


class Size(tuple):
    """A tensor shape: a tuple of ints, printed as ``ember.Size([2, 3])``."""

    __slots__ = ()

    def __repr__(self):
        return f"ember.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class RemovableHandle:
    """Returned by ``register_hook``; ``.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks_dict):
        self._hooks = hooks_dict
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class Tensor:
    """An n-dimensional array with reverse-mode autograd.

    ``_data`` is the backend array (``numpy.ndarray`` on cpu); ``grad_fn`` is the node that
    produced this tensor (None for leaves); ``_version`` is a one-element list shared with every
    view of the same memory and bumped by in-place ops, so backward can refuse stale saved values.
    """

    # Every op creates a Tensor, so only what every tensor needs is set per instance; the rest are
    # class defaults until set (in the instance __dict__, made on first write).
    __slots__ = ("_data", "_requires_grad", "grad_fn", "_version", "__dict__", "__weakref__")
    grad = None                     # accumulated gradient (leaves, and non-leaves that retain it)
    _base = None                    # the tensor whose memory this view shares
    _hooks = None                   # {handle id: hook} on a leaf's gradient
    _post_accumulate_hooks = None   # {handle id: hook} run after a leaf's .grad was accumulated
    _retains_grad = False

    def __init__(self, data, requires_grad=False):
        if type(data) is not np.ndarray:
            data = _coerce_array(data)
        self._data = data
        self._requires_grad = False
        self.grad_fn = None
        self._version = [0]
        if requires_grad:
            self.requires_grad = True

    # ---- autograd attributes -------------------------------------------------------------------

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if self.grad_fn is not None and not flag:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want "
                               "to use a computed variable in a subgraph that doesn't require "
                               "differentiation use var_no_grad = var.detach().")
        if flag and self._data.dtype.kind != "f":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients "
                               f"(got {self.dtype})")
        self._requires_grad = flag

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def retains_grad(self):
        return self._retains_grad

    @property
    def data(self):
        """A tensor sharing this one's memory, cut from the graph (PyTorch's ``.data``)."""
        return self.detach()

    @data.setter
    def data(self, value):
        if value.shape != self.shape and self.grad_fn is not None:
            raise RuntimeError(f"data: cannot give a non-leaf tensor of shape {tuple(self.shape)} "
                               f"data of shape {tuple(value.shape)}")
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def _version_number(self):
        return self._version[0]

    def detach(self):
        """A new leaf sharing this tensor's memory and version counter, with ``requires_grad=False``."""
        t = Tensor(self._data)
        t._version = self._version
        return t

    def detach_(self):
        if self._base is not None and self.grad_fn is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        """Keep ``.grad`` on a non-leaf tensor after backward (leaves keep theirs anyway)."""
        from .autograd import retain_grad
        retain_grad(self)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor replaces it."""
        from .autograd import register_tensor_hook
        return register_tensor_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on a leaf after its ``.grad`` was accumulated."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        handle = RemovableHandle(self._post_accumulate_hooks)
        self._post_accumulate_hooks[handle.id] = hook
        return handle

    # backward(): bound in engine/autograd.py, next to the engine it starts.

    # ---- shape, type and device ----------------------------------------------------------------

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim, "size")]

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    @property
    def dtype(self):
        return dtypes.from_numpy(self._data.dtype)

    @property
    def device(self):
        return device_of(self._data)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def element_size(self):
        return self._data.itemsize

    def stride(self, dim=None):
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._data.ndim, "stride")]

    def is_contiguous(self):
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self):
        return self._data.__array_interface__["data"][0] if type(self._data) is np.ndarray \
            else self._data.data.ptr

    # ---- leaving ember -------------------------------------------------------------------------

    def _check_no_grad(self, what):
        if self._requires_grad:
            raise RuntimeError(f"Can't call {what} on Tensor that requires grad. "
                               f"Use tensor.detach().{what} instead.")

    def numpy(self, force=False):
        """The NumPy array behind a cpu tensor (shared memory)."""
        if not force:
            self._check_no_grad("numpy()")
        if type(self._data) is not np.ndarray:
            if not force:
                raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                                f"Use Tensor.cpu() to copy the tensor to host memory first.")
            return self._data.get()
        return self._data

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        if dtype is not None:
            array = array.astype(dtype, copy=False)
        return array.copy() if copy else array

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __dlpack__(self, stream=None, **kwargs):
        self._check_no_grad("__dlpack__()")
        if stream is not None:
            return self._data.__dlpack__(stream=stream, **kwargs)
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    # ---- Python protocol -----------------------------------------------------------------------

    __hash__ = object.__hash__

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self):
        if self._data.size != 1:
            amount = "no values" if self._data.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {amount} is ambiguous")
        return bool(self._data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __repr__(self):
        from .printing import tensor_repr
        return tensor_repr(self)

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support "
                               "the deepcopy protocol at the moment")
        new = type(self).__new__(type(self))
        Tensor.__init__(new, self._data.copy(), self._requires_grad)
        if self.grad is not None:
            new.grad = self.grad.__deepcopy__(memo)
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol):
        raise TypeError("ember tensors are not pickled: save them with ember.save (safetensors)")


def _coerce_array(data):
    """Arrays from another backend pass through; anything else becomes a NumPy array (floats ->
    the default float dtype, as ``torch.Tensor(list)`` does)."""
    if isinstance(data, np.generic):
        return np.asarray(data)
    if hasattr(data, "__cuda_array_interface__") or (hasattr(data, "shape") and hasattr(data, "dtype")
                                                      and not isinstance(data, Tensor)):
        return data
    if isinstance(data, Tensor):
        return data._data
    return np.asarray(data, dtype=dtypes.get_default_dtype().numpy)


def _wrap_dim(dim, ndim, op):
    """Turn a possibly negative dim into an index in [0, ndim), or raise naming the op."""
    bound = max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                         f"[{-bound}, {bound - 1}], but got {dim})")
    return dim % bound


def tensors_in(output):
    """The Tensors in ``output`` (a Tensor, or dicts, lists and tuples holding some), depth first in
    order: what a module returned, walked by the tools that look at its graph."""
    if isinstance(output, Tensor):
        yield output
    elif isinstance(output, (dict, list, tuple)):
        for value in output.values() if isinstance(output, dict) else output:
            yield from tensors_in(value)
