"""The backward engine: walk the recorded graph in reverse and accumulate gradients.

Every node gets a sequence number when it is recorded, and a node's inputs were always recorded
before it. So sorting the reachable nodes by decreasing sequence number is a reverse topological
order: when a node's turn comes, every consumer of its output has already sent its gradient.
No recursion is involved, so a chain of 100,000 ops backpropagates like a chain of three.
"""
import operator
import weakref

import numpy as np

from . import anomaly
from .function import Function
from .grad_mode import _GradState, set_grad_enabled
from .tensor import RemovableHandle, Tensor


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradient of ``tensors`` into the ``.grad`` of every leaf that requires grad.

    ``grad_tensors`` (same shapes as ``tensors``) is the vector of the vector-Jacobian product and may
    be omitted for scalars. ``retain_graph`` keeps saved values for another backward (default:
    ``create_graph``); ``create_graph`` records the backward itself, for higher-order gradients;
    ``inputs`` (leaves or not) limits accumulation to those tensors, and only the part of the graph
    that leads to them runs.
    """
    tensors = _as_tuple(tensors)
    grad_tensors = _make_grads(tensors, _as_tuple(grad_tensors, len(tensors)), "backward")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        _run(tensors, grad_tensors, retain_graph, create_graph, capture=None)
        return
    inputs = _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty.")
    grads = grad(tensors, inputs, grad_tensors, retain_graph, create_graph, allow_unused=True)
    handed_out = {id(g._data) for g in grad_tensors}
    with set_grad_enabled(create_graph):
        for t, g in zip(inputs, grads):
            if g is not None:
                _accumulate(t, g, create_graph, handed_out)


def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (see ``ember.autograd.backward``)."""
    backward((self,), None if gradient is None else (gradient,), retain_graph, create_graph, inputs)


Tensor.backward = _tensor_backward


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Return d(outputs)/d(inputs) as a tuple, without touching any ``.grad``.

    ``inputs`` may be leaves or intermediate tensors. An input that ``outputs`` do not depend on
    raises, unless ``allow_unused=True`` (then its gradient is None, or zeros with
    ``materialize_grads=True``). Only the part of the graph between outputs and inputs runs.
    """
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad (requires_grad=False)")
    grad_outputs = _make_grads(outputs, _as_tuple(grad_outputs, len(outputs)), "grad")
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    capture = dict.fromkeys(_capture_key(t) for t in inputs)
    _run(outputs, grad_outputs, retain_graph, create_graph, capture=capture)
    results = []
    for i, t in enumerate(inputs):
        g = capture[_capture_key(t)]
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: one of the differentiated Tensors (input {i}) appears to not "
                                   f"have been used in the graph. Set allow_unused=True if this is "
                                   f"the desired behavior.")
            if materialize_grads:
                g = Tensor(np.zeros_like(t._data))
        results.append(g)
    return tuple(results)


def register_tensor_hook(tensor, hook):
    """Hooks of a leaf live on the tensor; those of a non-leaf live on the node that produced it."""
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    owner = tensor if tensor.grad_fn is None else tensor.grad_fn
    hooks = owner._hooks if owner is tensor else owner.tensor_hooks
    if hooks is None:
        hooks = {}
        if owner is tensor:
            tensor._hooks = hooks
        else:
            owner.tensor_hooks = hooks
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def retain_grad(tensor):
    if not tensor.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if tensor.grad_fn is None or tensor._retains_grad:
        return
    tensor._retains_grad = True
    node = tensor.grad_fn
    node.retained = weakref.ref(tensor)  # weak: the tensor owns its node, not the other way round


# ---- the engine ---------------------------------------------------------------------------------

# ember.autograd.trace plugs in here: while set, the walk calls _tracer(node, grad) in place of the
# node's backward, and the tracer runs that backward and records it.
_tracer = None


def set_backward_tracer(tracer):
    """Install ``tracer(node, grad) -> input gradients`` (None removes it); returns the previous one."""
    global _tracer
    previous, _tracer = _tracer, tracer
    return previous


def _run(roots, root_grads, retain_graph, create_graph, capture):
    """Backpropagate ``root_grads`` from ``roots``. With ``capture`` (``grad``), the gradients of the
    tensors keyed in it are stored there instead of in ``.grad``, and only nodes leading to them run."""
    handed_out = {id(g._data) for g in root_grads}  # arrays the caller holds: copy before storing
    pending = {}  # node -> sum of the gradients its consumers sent so far
    for root, g in zip(roots, root_grads):
        if root.grad_fn is None:
            _deliver_to_leaf(root, g, create_graph, capture, handed_out)
        else:
            _add_pending(pending, root.grad_fn, g)
    if not pending:
        return
    order = _reverse_topological(pending)
    plan = None if capture is None else _plan(order, capture)
    anomaly_mode = anomaly._AnomalyState.enabled
    tracer = _tracer  # read once: a backward without a trace pays one None check per node
    previous_mode, previous_in_backward = _GradState.enabled, anomaly._AnomalyState.in_backward
    _GradState.enabled = create_graph
    anomaly._AnomalyState.in_backward = True
    try:
        for node in order:
            grad = pending.pop(node, None)
            if grad is None:
                continue  # no gradient reached this node (its consumers returned None)
            if plan is not None:
                runs = plan.get(node)
                if runs is None:
                    continue  # leads to no input of grad()
                grad = _run_output_hooks(node, grad)
                if node in capture:
                    previous = capture[node]
                    capture[node] = grad if previous is None else previous + grad
                if not runs:
                    continue
            elif node.tensor_hooks is not None or node.retained is not None:
                grad = _run_output_hooks(node, grad)
            if tracer is None:
                input_grads = type(node).backward(node, grad)
            else:
                input_grads = tracer(node, grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            edges = node.next_edges
            if len(input_grads) != len(edges):
                raise RuntimeError(f"{node.name()} returned {len(input_grads)} gradients, "
                                   f"expected {len(edges)} (one per forward input)")
            for edge, g, meta in zip(edges, input_grads, node.input_meta):
                if edge is None or g is None:
                    continue
                if not isinstance(g, Tensor):
                    raise TypeError(f"{node.name()} returned a gradient of type {type(g).__name__}; "
                                    f"backward must return Tensors (or None)")
                if g._data.shape != meta[0] or g._data.dtype is not meta[1]:
                    g = _fit_to_input(g, meta, node)
                if anomaly_mode:
                    _check_backward_anomaly(node, g)
                if isinstance(edge, Function):
                    _add_pending(pending, edge, g)
                else:
                    _deliver_to_leaf(edge, g, create_graph, capture, handed_out)
            if not retain_graph:
                node.release()
    finally:
        _GradState.enabled = previous_mode
        anomaly._AnomalyState.in_backward = previous_in_backward


def _reverse_topological(pending):
    seen = set(pending)
    stack = list(pending)
    while stack:
        for edge in stack.pop().next_edges:
            if isinstance(edge, Function) and edge not in seen:
                seen.add(edge)
                stack.append(edge)
    return sorted(seen, key=_sequence_number, reverse=True) if len(seen) > 1 else list(seen)


_sequence_number = operator.attrgetter("sequence_number")


def _plan(order, capture):
    """The nodes ``grad`` visits: True for those whose backward leads to a captured tensor, False for
    captured nodes whose backward is not needed. The others are skipped, as PyTorch does."""
    plan = {}
    for node in reversed(order):  # producers before consumers
        for edge in node.next_edges:
            if edge is not None and (plan.get(edge) is not None if isinstance(edge, Function)
                                     else id(edge) in capture):
                plan[node] = True
                break
        else:
            if node in capture:
                plan[node] = False
    return plan


def _add_pending(pending, node, g):
    previous = pending.get(node)
    pending[node] = g if previous is None else previous + g


def _run_output_hooks(node, grad):
    hooks = node.tensor_hooks
    if hooks:
        for hook in list(hooks.values()):
            replaced = hook(grad)
            if replaced is not None:
                grad = replaced
    retained_ref = node.retained
    if retained_ref is not None:
        retained = retained_ref()
        if retained is not None:  # as PyTorch: a copy, so later in-place accumulation is private
            retained.grad = grad.clone() if retained.grad is None else retained.grad + grad
    return grad


def _fit_to_input(g, meta, node):
    """Broadcasting's gradient: sum ``g`` down to the input's shape; and give it the input's dtype."""
    shape, dtype = meta
    if g._data.shape != shape:
        from .ops.reduction import sum_to_size
        try:
            g = sum_to_size(g, shape)
        except RuntimeError:
            raise RuntimeError(f"{node.name()} returned a gradient of shape {tuple(g.shape)} for an "
                               f"input of shape {tuple(shape)}") from None
    if g._data.dtype != dtype:
        g = g.to(dtype)
    return g


def _deliver_to_leaf(leaf, g, create_graph, capture, handed_out):
    if capture is not None and id(leaf) not in capture:
        return  # grad() does not want this leaf: its hooks do not run either
    if leaf._hooks:
        for hook in list(leaf._hooks.values()):
            replaced = hook(g)
            if replaced is not None:
                g = replaced
    if capture is not None:
        previous = capture[id(leaf)]
        capture[id(leaf)] = g if previous is None else previous + g
    else:
        _accumulate(leaf, g, create_graph, handed_out)


def _accumulate(tensor, g, create_graph, handed_out):
    """Add ``g`` into ``tensor.grad`` as PyTorch's AccumulateGrad does, then run post-accumulate hooks."""
    if create_graph:  # out of place, recorded: the new .grad is a function of the inputs
        tensor.grad = g.clone() if tensor.grad is None else tensor.grad + g
    elif tensor.grad is None:
        array = g._data
        # A stored .grad must own its memory: the same array may reach two leaves (add's backward
        # hands one gradient to both inputs), be a view of another gradient, or be the caller's.
        if array.base is not None or id(array) in handed_out or not getattr(array.flags, "writeable", True):
            array = array.copy()
        handed_out.add(id(array))
        tensor.grad = Tensor(array)
    else:
        tensor.grad._data += g._data
        tensor.grad._version[0] += 1
    if tensor._post_accumulate_hooks:
        for hook in list(tensor._post_accumulate_hooks.values()):
            hook(tensor)


def _check_backward_anomaly(node, g):
    if anomaly._AnomalyState.check_nan and anomaly.has_nonfinite(g._data):
        frame = node.creation_frame
        raise RuntimeError(f"Function '{node.name()}' returned NaN/Inf values in its gradient output. "
                           f"The forward op was created at:\n  {anomaly.describe_frame(frame)}")


def _capture_key(t):
    return id(t) if t.grad_fn is None else t.grad_fn


def _as_tuple(value, length=None):
    if value is None:
        return (None,) * length if length is not None else ()
    if isinstance(value, Tensor):
        return (value,)
    return tuple(value)


def _make_grads(outputs, grads, caller):
    """Fill in the implicit gradient 1 for scalar outputs; check shapes of the given ones."""
    result = []
    for i, (out, g) in enumerate(zip(outputs, grads)):
        if not out._requires_grad:
            raise RuntimeError(f"{caller}: element {i} of tensors does not require grad and does not "
                               f"have a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError(f"{caller}: grad can be implicitly created only for scalar outputs "
                                   f"(output {i} has shape {tuple(out.shape)}); pass gradient=")
            g = Tensor(np.ones_like(out._data))
        elif not isinstance(g, Tensor):
            raise TypeError(f"{caller}: gradient must be a Tensor, got {type(g).__name__}")
        elif g._data.shape != out._data.shape:
            raise RuntimeError(f"{caller}: Mismatch in shape: grad_output[{i}] has a shape of "
                               f"{tuple(g.shape)} and output[{i}] has a shape of {tuple(out.shape)}.")
        elif g._data.dtype is not out._data.dtype and g._data.dtype != out._data.dtype:
            g = g.to(out.dtype)
        result.append(g)
    return result
