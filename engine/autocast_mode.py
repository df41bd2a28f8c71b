"""``autocast``: regions where chosen ops run in lower precision, as ``torch.autocast``.

Inside ``with ember.autocast("cuda"):`` an op on PyTorch's autocast lists for the tensors' device
type casts its floating inputs before it runs: matrix products and convolutions to the autocast
dtype (float16), ops that need float32's range or precision (losses; on cuda also softmax,
layer_norm, sum, exp...) to float32, and a few ops that take several tensors to the widest of them.
Other ops run on whatever they are given. A cast is an ordinary ``to``, recorded in the graph, so
each input's gradient comes back in the input's own dtype: float32 weights get float32 ``.grad``.

As in PyTorch: only tensors on the autocast device type are cast, float64 ones never are; a listed
op runs its own body with autocast off, while an unlisted op that calls listed ones (a layer made
of ops) gets them autocast; an explicit ``dtype=`` argument is respected; backward never autocasts;
a float32 leaf that requires grad (a weight) is cast once per outermost region and reused.

engine/ops wraps each listed op once, at import (``wrap_listed_ops``); outside autocast a wrapped op
costs one check and the wrapper's call. The state is process-wide, like ember's grad mode (PyTorch's
is per thread).
"""
import functools
import inspect
import sys
import warnings

import numpy as np

from . import anomaly, dtypes
from .grad_mode import _GradState
from .tensor import Tensor

__all__ = ["autocast", "is_autocast_enabled"]

_DEVICE_TYPES = ("cpu", "cuda")
_SUPPORTED = (dtypes.float16,)  # PyTorch also takes bfloat16, which NumPy (so ember) lacks


class _State:
    __slots__ = ("dtypes", "cache_enabled", "cache", "depth")

    def __init__(self):
        self.dtypes = {}          # device type -> autocast dtype, for each type autocast is on for
        self.cache_enabled = True
        self.cache = {}           # (id(leaf), dtype) -> (leaf, its version, its cast)
        self.depth = 0            # autocast regions entered: the cache empties when the last one exits


_STATE = _State()


def is_autocast_enabled(device_type="cuda"):
    """Whether ops on ``device_type`` tensors autocast here."""
    return device_type in _STATE.dtypes


class autocast:
    """Context manager and decorator: listed ops on ``device_type`` tensors run in mixed precision.

    ``dtype`` is the lower precision: float16 (the default on cuda). PyTorch's cpu default is
    bfloat16, which ember does not have, so on cpu pass ``dtype=ember.float16``. Another dtype
    disables autocast with a warning, as does ``"cuda"`` where CUDA cannot be used.
    ``enabled=False`` turns autocast off for that device type inside the region (it nests).
    ``cache_enabled=False`` recasts weights at every use instead of once per region.
    """

    def __init__(self, device_type="cuda", dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _DEVICE_TYPES:
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.device = device_type
        # a disabled region casts nothing, so it needs no dtype (nor cpu's missing default)
        self.fast_dtype = _autocast_dtype(device_type, dtype) if enabled else dtype
        self._cache_enabled = _STATE.cache_enabled if cache_enabled is None else bool(cache_enabled)
        self._enabled = bool(enabled) and _usable(device_type, self.fast_dtype)
        self._outer = []  # the states this instance replaced: one per entry, so it may nest in itself

    def __enter__(self):
        self._outer.append((_STATE.dtypes, _STATE.cache_enabled))
        enabled = dict(_STATE.dtypes)
        if self._enabled:
            enabled[self.device] = self.fast_dtype
        else:
            enabled.pop(self.device, None)
        _STATE.dtypes, _STATE.cache_enabled = enabled, self._cache_enabled
        _STATE.depth += 1

    def __exit__(self, *exc):
        _STATE.dtypes, _STATE.cache_enabled = self._outer.pop()
        _STATE.depth -= 1
        if _STATE.depth == 0:
            _STATE.cache.clear()
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def autocast_region(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return autocast_region


def _autocast_dtype(device_type, dtype):
    if dtype is None:
        if device_type == "cpu":
            raise RuntimeError("autocast on cpu defaults to bfloat16 in PyTorch, and ember has no bfloat16 "
                               "(NumPy lacks it): pass dtype=ember.float16")
        return dtypes.float16
    if "bfloat16" in str(dtype):
        raise RuntimeError(f"autocast: ember has no bfloat16 (NumPy lacks it), got dtype={dtype}; "
                           f"use dtype=ember.float16")
    return dtypes.to_dtype(dtype)


def _usable(device_type, dtype):
    if device_type == "cuda":
        from . import cuda
        if not cuda.is_available():
            warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=3)
            return False
    if dtype not in _SUPPORTED:
        name = device_type.upper()
        warnings.warn(f"In {name} autocast, but the target dtype is not supported. Disabling autocast.\n"
                      f"{name} Autocast only supports dtypes of {', '.join(map(str, _SUPPORTED))} "
                      f"currently.", stacklevel=3)
        return False
    return True


# ---- casting --------------------------------------------------------------------------------------

def _device_type(tensor):
    return "cpu" if type(tensor._data) is np.ndarray else tensor.device.type


def _cast_tensor(tensor, dtype, device_type):
    data = tensor._data
    if (data.dtype.kind != "f" or data.dtype == np.float64 or data.dtype == dtype.numpy
            or _device_type(tensor) != device_type):
        return tensor
    if not (_STATE.cache_enabled and _GradState.enabled and tensor._requires_grad and tensor.grad_fn is None):
        return tensor.to(dtype)
    # A weight used by several ops (or time steps) is cast once; a new version (an optimizer step
    # inside the region) is cast again. Only with grad mode on: a cast made without it would
    # cut the weight off the graph of later uses.
    key = (id(tensor), dtype)
    hit = _STATE.cache.get(key)
    if hit is not None and hit[0] is tensor and hit[1] == tensor._version[0]:
        return hit[2]
    cast = tensor.to(dtype)
    _STATE.cache[key] = (tensor, tensor._version[0], cast)
    return cast


def _cast(value, dtype, device_type):
    """A tensor argument cast, or a list/tuple of them (``cat``'s), or anything else as it is."""
    if isinstance(value, Tensor):
        return _cast_tensor(value, dtype, device_type)
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_tensor(v, dtype, device_type) if isinstance(v, Tensor) else v for v in value)
    return value


def _cast_all(args, kwargs, dtype, device_type):
    return ([_cast(a, dtype, device_type) for a in args],
            {k: _cast(v, dtype, device_type) for k, v in kwargs.items()})


def _tensors(args, kwargs):
    for value in (*args, *kwargs.values()):
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, Tensor))


def _eligible(tensor, device_type):
    dtype = tensor._data.dtype
    return dtype.kind == "f" and dtype != np.float64 and _device_type(tensor) == device_type


# ---- the policies: how a listed op's arguments change (PyTorch's CastPolicy) -----------------------

def _lower_precision(op, args, kwargs, dtype, device_type):
    return _cast_all(args, kwargs, dtype, device_type)


def _fp32(op, args, kwargs, dtype, device_type):
    return _cast_all(args, kwargs, dtypes.float32, device_type)


def _fp32_output(op, args, kwargs, dtype, device_type):
    """Ops with a ``dtype=`` output argument (softmax, sum...): float32 unless the caller chose one."""
    given = kwargs.get("dtype", args[op.dtype_slot] if len(args) > op.dtype_slot else None)
    if given is None and args and isinstance(args[0], Tensor) and _eligible(args[0], device_type):
        kwargs = {**kwargs, "dtype": dtypes.float32}
    return args, kwargs


def _widest(op, args, kwargs, dtype, device_type):
    """Several tensors of one dtype: float32 if any eligible one is, else the autocast dtype."""
    eligible = [t for t in _tensors(args, kwargs) if _eligible(t, device_type)]
    target = dtypes.float32 if any(t._data.dtype == np.float32 for t in eligible) else dtype
    return _cast_all(args, kwargs, target, device_type)


def _banned(op, args, kwargs, dtype, device_type):
    raise RuntimeError(
        f"{op.name} and BCELoss are unsafe to autocast.\nMany models use a sigmoid layer right "
        f"before the binary cross entropy layer.\nIn this case, combine the two layers using "
        f"ember.nn.functional.binary_cross_entropy_with_logits\nor ember.nn.BCEWithLogitsLoss.  "
        f"binary_cross_entropy_with_logits and BCEWithLogits are\nsafe to autocast.")


def _table(*rows):
    return {name: policy for policy, names in rows for name in names.split()}


_CONVOLUTIONS = "conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d"

# PyTorch's lists (aten/src/ATen/autocast_mode.cpp) for the ops ember has. einsum is listed on cpu
# too because PyTorch's decomposes into bmm there; cpu's promote list (cat, stack) is what ember's
# cat and stack do anyway; cuda's float32 list also covers ``x ** y``, ``y ** x`` and ``n / x`` (a
# reciprocal in PyTorch) through the Tensor operators. Where PyTorch's Python layer turns an op into
# another ATen op (weighted mse_loss/l1_loss, max_pool3d with indices, pad's reflect and replicate
# modes), ember follows the op's own listing.
POLICIES = {
    "cuda": _table(
        (_lower_precision, f"matmul mm bmm mv addmm einsum linear prelu scaled_dot_product_attention "
                           f"{_CONVOLUTIONS}"),
        (_fp32, "exp expm1 log log2 log10 log1p reciprocal rsqrt tan pow __rpow__ __rtruediv__ softplus "
                "layer_norm group_norm cosine_similarity normalize logsumexp cross_entropy nll_loss "
                "mse_loss l1_loss smooth_l1_loss huber_loss kl_div binary_cross_entropy_with_logits"),
        (_fp32_output, "sum prod cumsum cumprod softmax log_softmax softmin norm"),
        (_widest, "dot index_put scatter_add"),
        (_banned, "binary_cross_entropy")),
    "cpu": _table(
        (_lower_precision, f"matmul mm bmm addmm einsum linear prelu scaled_dot_product_attention "
                           f"{_CONVOLUTIONS}"),
        (_fp32, "prod avg_pool3d max_pool3d adaptive_avg_pool3d adaptive_max_pool3d cross_entropy "
                "nll_loss mse_loss l1_loss smooth_l1_loss huber_loss kl_div binary_cross_entropy "
                "binary_cross_entropy_with_logits")),
}
_LISTED = set().union(*POLICIES.values())
_TENSOR_OPERATORS = ("__rpow__", "__rtruediv__")  # listed under their own names, not their function's


# ---- wrapping the listed ops ----------------------------------------------------------------------

class _ListedOp:
    __slots__ = ("name", "function", "dtype_slot")

    def __init__(self, name, function):
        self.name, self.function = name, function
        parameters = list(inspect.signature(function).parameters.values())
        positional = [p.name for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD]
        self.dtype_slot = positional.index("dtype") if "dtype" in positional else len(parameters) + 1


def _autocast_call(op, args, kwargs):
    if anomaly._AnomalyState.in_backward:  # gradient formulas run in the dtypes forward recorded
        return op.function(*args, **kwargs)
    first = next(_tensors(args, kwargs), None)
    device_type = None if first is None else _device_type(first)
    dtype = _STATE.dtypes.get(device_type)
    policy = POLICIES[device_type].get(op.name) if dtype is not None else None
    if policy is None:
        return op.function(*args, **kwargs)
    args, kwargs = policy(op, args, kwargs, dtype, device_type)
    enabled, _STATE.dtypes = _STATE.dtypes, {}  # the op's own body runs without autocast
    try:
        return op.function(*args, **kwargs)
    finally:
        _STATE.dtypes = enabled


def _wrap(name, function):
    op = _ListedOp(name, function)

    @functools.wraps(function)
    def listed_op(*args, **kwargs):
        if _STATE.dtypes:
            return _autocast_call(op, args, kwargs)
        return function(*args, **kwargs)
    return listed_op


def wrap_listed_ops(package, tensor_class):
    """Replace every op on an autocast list, wherever the modules of ``package`` and the Tensor
    class hold it, by its wrapper. Called once by engine/ops after importing its families and
    before anything else imports from them."""
    modules = [m for name, m in list(sys.modules.items()) if name.startswith(package + ".")]
    wrappers = {}  # id(function) -> (function, wrapper)
    for module in modules:
        for name in getattr(module, "__all__", ()):
            function = getattr(module, name)
            if name in _LISTED and id(function) not in wrappers:
                wrappers[id(function)] = (function, _wrap(name, function))
    for holder in [*modules, tensor_class]:
        for attribute, value in list(vars(holder).items()):
            entry = wrappers.get(id(value))
            if entry is not None and entry[0] is value:
                setattr(holder, attribute, entry[1])
    for name in _TENSOR_OPERATORS:
        setattr(tensor_class, name, _wrap(name, getattr(tensor_class, name)))
