"""``Function``: one differentiable op, forward on raw arrays and backward in Tensor ops.

An op subclasses Function and writes two static methods side by side::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):            # a, b: NumPy/CuPy arrays (or Python numbers)
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):           # grad: Tensor shaped like the output
            a, b = ctx.saved_tensors       # Tensors again, so backward is itself differentiable
            return grad * b, grad * a      # one gradient (or None) per forward input

``Mul.apply(x, y)`` runs forward and, when grad mode is on and an input requires grad, records the
call as a node of the autograd graph: the instance (``ctx``) *is* the node. Backward may return a
gradient shaped like the broadcast output; the engine sums it down to each input's shape.
"""
import itertools

import numpy as np

from . import anomaly
from .grad_mode import _GradState
from .tensor import Tensor

_next_sequence_number = itertools.count().__next__
_new_object = object.__new__

# How a saved value comes back in backward.
_SAVED_INPUT, _SAVED_OUTPUT, _SAVED_CONSTANT = 0, 1, 2


class Function:
    """Base class of every op; an instance is both the ``ctx`` of one call and its graph node."""

    # next_edges[i]: where the gradient of input i goes: a Function (non-leaf), a leaf Tensor, or None.
    # input_meta[i]: (shape, dtype) of input i, to which the engine fits the gradient.
    __slots__ = ("next_edges", "input_meta", "sequence_number", "_saved", "__dict__", "__weakref__")

    # Rarely set, so read from the class until an instance sets its own: apply need not write them.
    _to_save = ()           # what forward asked to save, until apply packs it
    tensor_hooks = None     # hooks on the gradient of this node's output (Tensor.register_hook)
    retained = None         # weak reference to the output tensor that retains its grad
    creation_frame = None   # where the op was called, recorded in anomaly mode

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on ``args`` (Tensors and plain values) and return the output Tensor."""
        ctx = _new_object(cls)
        raw = cls.forward(ctx, *[a._data if isinstance(a, Tensor) else a for a in args], **kwargs)
        out = raw if type(raw) is np.ndarray else _as_array(raw)
        result = Tensor(out)
        if anomaly._AnomalyState.enabled:
            _check_forward_anomaly(cls, args, out)
        # Only floating outputs are differentiable: a cast to int or a comparison ends the graph.
        if not _GradState.enabled or out.dtype.kind != "f":
            return result
        edges = [(a.grad_fn or a) if isinstance(a, Tensor) and a._requires_grad else None for a in args]
        for edge in edges:
            if edge is not None:
                break
        else:
            return result  # no input requires grad (list.count would call Tensor.__eq__)
        ctx.next_edges = edges
        ctx.input_meta = [None if e is None else (a._data.shape, a._data.dtype)
                          for a, e in zip(args, edges)]
        ctx.sequence_number = _next_sequence_number()
        ctx._saved = ctx._pack_saved(args, raw, result) if ctx._to_save else ()
        result._requires_grad = True
        result.grad_fn = ctx
        if anomaly._AnomalyState.enabled:
            ctx.creation_frame = anomaly.user_frame()
        return result

    @property
    def needs_input_grad(self):
        """One bool per forward input: does its gradient flow anywhere?"""
        return [e is not None for e in self.next_edges]

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    # ---- saving for backward -------------------------------------------------------------------

    def save_for_backward(self, *values):
        """Keep arrays (inputs, the output, or intermediates) for backward.

        Inputs and the output come back in backward as Tensors connected to the graph (so double
        backward works) and are checked against in-place changes; any other array comes back as a
        constant Tensor, so save only intermediates that are constant with respect to the inputs
        (masks, indices), or mark the op's backward as once-differentiable.
        """
        if _GradState.enabled:  # with grad off (e.g. inside backward) nothing will be recorded
            self._to_save = values

    def _pack_saved(self, args, raw_out, result):
        # raw_out is forward's own return value: a 0-d NumPy result is a scalar that apply wrapped
        # into an array, so identity with it (not with result._data) says "this is the output".
        packed = []
        for value in self._to_save:
            if value is raw_out:
                packed.append((_SAVED_OUTPUT, result._data, result._version, result._version[0]))
                continue
            for a in args:
                if isinstance(a, Tensor) and a._data is value:
                    packed.append((_SAVED_INPUT, a, a._version, a._version[0]))
                    break
            else:
                packed.append((_SAVED_CONSTANT, value, None, None))
        self._to_save = ()
        return packed

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or directly access saved tensors "
                f"after they have already been freed) in {self.name()}. Saved intermediate values of the "
                f"graph are freed when you call .backward() or autograd.grad(). Specify "
                f"retain_graph=True if you need to backward through the graph a second time or if you "
                f"need to access saved tensors after calling backward.")
        unpacked = []
        for kind, value, version, saved_version in self._saved:
            if version is not None and version[0] != saved_version:
                raise self._modified_error(kind, value, version[0], saved_version)
            if kind == _SAVED_INPUT:
                unpacked.append(value)
            elif kind == _SAVED_OUTPUT:
                t = Tensor(value)
                t._version = version
                if _GradState.enabled:  # create_graph: the output stays a function of the inputs
                    t._requires_grad = True
                    t.grad_fn = self
                unpacked.append(t)
            else:
                unpacked.append(Tensor(value) if _is_array(value) else value)
        return tuple(unpacked)

    def _modified_error(self, kind, value, version, saved_version):
        array = value if kind == _SAVED_OUTPUT else value._data
        producer = self.name() if kind == _SAVED_OUTPUT else _producer(value)
        return RuntimeError(
            f"one of the variables needed for gradient computation has been modified by an inplace "
            f"operation: [{array.dtype} {list(array.shape)}], which is output 0 of "
            f"{producer}, is at version {version}; expected version {saved_version} instead. Hint: "
            f"enable anomaly detection (ember.autograd.detect_anomaly()) to find the operation that "
            f"failed to compute its gradient.")

    def release(self):
        """Free what was saved for backward (after a backward without ``retain_graph``)."""
        self._saved = None  # None, not (): tells saved_tensors they were freed

    # ---- graph inspection ----------------------------------------------------------------------

    @classmethod
    def name(cls):
        return cls.__name__ + "Backward"

    @property
    def next_functions(self):
        """PyTorch-style view of the graph edges: ``((node_or_None, 0), ...)``."""
        return tuple((e if isinstance(e, Function) else (_AccumulateGrad(e) if e is not None else None), 0)
                     for e in self.next_edges)

    def register_hook(self, hook):
        """Not supported on nodes; use ``Tensor.register_hook`` (which hooks the node's output)."""
        raise NotImplementedError("register hooks on tensors: Tensor.register_hook(fn)")

    def __repr__(self):
        return f"<{self.name()}>"


class _AccumulateGrad:
    """Stand-in node for a leaf in ``next_functions``, as PyTorch shows it."""

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad>"

    def __eq__(self, other):
        return isinstance(other, _AccumulateGrad) and other.variable is self.variable

    def __hash__(self):
        return id(self.variable)


def once_differentiable(backward):
    """Mark a backward that computes on raw arrays: asking for its second derivative raises."""
    def wrapped(ctx, *grads):
        if _GradState.enabled and any(g.requires_grad for g in grads if g is not None):
            raise RuntimeError(f"{ctx.name()} is only once differentiable: its backward is a fused "
                               f"kernel without its own backward, so create_graph=True cannot pass it")
        return backward(ctx, *grads)
    wrapped.__doc__ = backward.__doc__
    return staticmethod(wrapped)


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Tensor)


def _as_array(out):
    """NumPy returns scalars for 0-d results; an op's output is always an array."""
    if isinstance(out, np.generic):
        return np.asarray(out)
    if _is_array(out):
        return out
    raise TypeError(f"an op's forward must return an array, got {type(out).__name__}")


def _producer(tensor):
    return tensor.grad_fn.name() if tensor.grad_fn is not None else "a leaf tensor"


def _check_forward_anomaly(cls, args, out):
    state = anomaly._AnomalyState
    if not state.check_nan or state.in_backward or not anomaly.has_nonfinite(out):
        return
    if any(isinstance(a, Tensor) and anomaly.has_nonfinite(a._data) for a in args):
        return  # the NaN/Inf came in with an input: this op did not produce it
    raise RuntimeError(f"Function '{cls.__name__}' produced NaN/Inf values in its forward output "
                       f"from finite inputs. It was called at:\n  "
                       f"{anomaly.describe_frame(anomaly.user_frame())}")
