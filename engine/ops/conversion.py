"""Changing dtype or device, and copying: ``to``, ``float``, ``clone``, ``contiguous``..."""
from .. import dtypes
from ..device import CPU, backend_for, device as Device, device_of
from ..function import Function
from ..tensor import Tensor

__all__ = ["clone"]


class ToDtype(Function):
    @staticmethod
    def forward(ctx, x, target):
        ctx.source = x.dtype
        return x.astype(target)

    @staticmethod
    def backward(ctx, grad):
        return grad.to(dtypes.from_numpy(ctx.source)), None


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, target):
        ctx.source = device_of(x)
        return backend_for(target).to_device(x, target)

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.source), None


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


def clone(input):
    """A copy with its own memory; gradient flows back to ``input``. Shape: (*) -> (*)."""
    return Clone.apply(input)


def _parse_to_args(args, kwargs):
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype, device = arg.dtype, arg.device
        elif isinstance(arg, (str, Device)) and not (isinstance(arg, str) and arg in dtypes._BY_NAME):
            device = arg
        elif isinstance(arg, bool):
            copy = arg
        else:
            dtype = arg
    return (dtypes.to_dtype(dtype) if dtype is not None else None,
            Device(device) if device is not None else None, copy)


def to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; returns ``self`` when
    nothing changes (unless ``copy=True``). Differentiable."""
    dtype, device, copy = _parse_to_args(args, kwargs)
    result = self
    if device is not None and device.type == "cuda" and device.index is None:
        from ..cuda import current_device  # 'cuda' means the current GPU, as in PyTorch
        backend_for(device)  # without a usable GPU: the error that says why
        device = Device("cuda", current_device())
    if device is not None and device != self.device:
        result = ToDevice.apply(result, device)
    if dtype is not None and result._data.dtype != dtype.numpy:
        result = ToDtype.apply(result, dtype.numpy)
    if copy and result is self:
        result = clone(self)
    return result


def contiguous(self):
    """``self`` if already C-contiguous, else a contiguous copy. Shape: (*) -> (*)."""
    return self if self._data.flags.c_contiguous else clone(self)


def _cast_method(dtype):
    return lambda self: to(self, dtype)


Tensor.to = to
Tensor.clone = clone
Tensor.contiguous = contiguous
Tensor.float = _cast_method(dtypes.float32)
Tensor.double = _cast_method(dtypes.float64)
Tensor.half = _cast_method(dtypes.float16)
Tensor.long = _cast_method(dtypes.int64)
Tensor.int = _cast_method(dtypes.int32)
Tensor.short = _cast_method(dtypes.int16)
Tensor.bool = _cast_method(dtypes.bool_)
Tensor.byte = _cast_method(dtypes.uint8)
Tensor.cpu = lambda self: to(self, CPU)
Tensor.cuda = lambda self, device=None: to(self, Device("cuda") if device is None else
                                            Device(f"cuda:{device}" if isinstance(device, int) else device))
Tensor.type_as = lambda self, other: to(self, other.dtype)


def _type(self, dtype=None):
    """With no argument, PyTorch's type string (e.g. 'ember.FloatTensor'); else ``to(dtype)``."""
    if dtype is None:
        names = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                 "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
        return f"ember.{names[self.dtype.name]}Tensor"
    return to(self, dtype)


Tensor.type = _type
