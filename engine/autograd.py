"""The backward engine: walk the recorded graph in reverse and accumulate gradients.

Every node gets a sequence number when it is recorded, and a node's inputs were always recorded
before it. So sorting the reachable nodes by decreasing sequence number is a reverse topological
order: when a node's turn comes, every consumer of its output has already sent its gradient.
No recursion is involved, so a chain of 100,000 ops backpropagates like a chain of three.
"""
import weakref

import numpy as np

from . import anomaly
from .function import Function
from .grad_mode import set_grad_enabled
from .tensor import RemovableHandle, Tensor


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradient of ``tensors`` into the ``.grad`` of every leaf that requires grad.

    ``grad_tensors`` (same shapes as ``tensors``) is the vector of the vector-Jacobian product and may
    be omitted for scalars. ``retain_graph`` keeps saved values for another backward (default:
    ``create_graph``); ``create_graph`` records the backward itself, for higher-order gradients;
    ``inputs`` limits accumulation to those leaves.
    """
    tensors = _as_tuple(tensors)
    grad_tensors = _make_grads(tensors, _as_tuple(grad_tensors, len(tensors)), "backward")
    if retain_graph is None:
        retain_graph = create_graph
    only = None if inputs is None else {id(t): t for t in _as_tuple(inputs)}
    _run(tensors, grad_tensors, retain_graph, create_graph, capture=None, accumulate_only=only)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Return d(outputs)/d(inputs) as a tuple, without touching any ``.grad``.

    ``inputs`` may be leaves or intermediate tensors. An input that ``outputs`` do not depend on
    raises, unless ``allow_unused=True`` (then its gradient is None, or zeros with
    ``materialize_grads=True``).
    """
    outputs = _as_tuple(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = _as_tuple(inputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad (requires_grad=False)")
    grad_outputs = _make_grads(outputs, _as_tuple(grad_outputs, len(outputs)), "grad")
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    capture = {}
    for t in inputs:
        capture.setdefault(_capture_key(t), None)
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

def _run(roots, root_grads, retain_graph, create_graph, capture, accumulate_only=None):
    pending = {}       # node -> sum of the gradients its consumers sent so far
    for root, g in zip(roots, root_grads):
        if root.grad_fn is None:
            _deliver_to_leaf(root, g, create_graph, capture, accumulate_only, set())
        else:
            _add_pending(pending, root.grad_fn, g)

    handed_out = {id(g._data) for g in root_grads}  # arrays already owned by someone: copy before storing
    with set_grad_enabled(create_graph):
        for node in _reverse_topological(pending):
            grad = pending.pop(node, None)
            if grad is None:
                continue  # no gradient reached this node (its consumers returned None)
            grad = _run_output_hooks(node, grad)
            if capture is not None and node in capture:
                capture[node] = grad if capture[node] is None else capture[node] + grad
            input_grads = type(node).backward(node, grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(node.next_edges):
                raise RuntimeError(f"{node.name()} returned {len(input_grads)} gradients, "
                                   f"expected {len(node.next_edges)} (one per forward input)")
            for edge, g, meta in zip(node.next_edges, input_grads, node.input_meta):
                if edge is None or g is None:
                    continue
                g = _fit_to_input(g, meta, node)
                if anomaly._AnomalyState.enabled:
                    _check_backward_anomaly(node, g)
                if isinstance(edge, Function):
                    _add_pending(pending, edge, g)
                else:
                    _deliver_to_leaf(edge, g, create_graph, capture, accumulate_only, handed_out)
            if not retain_graph:
                node.release()


def _reverse_topological(pending):
    seen = set(pending)
    stack = list(pending)
    while stack:
        node = stack.pop()
        for edge in node.next_edges:
            if isinstance(edge, Function) and edge not in seen:
                seen.add(edge)
                stack.append(edge)
    return sorted(seen, key=_sequence_number, reverse=True)


def _sequence_number(node):
    return node.sequence_number


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
    retained_ref = getattr(node, "retained", None)
    if retained_ref is not None:
        retained = retained_ref()
        if retained is not None:
            g = grad.detach() if not grad.requires_grad else grad
            retained.grad = g if retained.grad is None else retained.grad + g
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


def _deliver_to_leaf(leaf, g, create_graph, capture, accumulate_only, handed_out):
    if leaf._hooks:
        for hook in list(leaf._hooks.values()):
            replaced = hook(g)
            if replaced is not None:
                g = replaced
    if capture is not None:
        key = id(leaf)
        if key in capture:
            capture[key] = g if capture[key] is None else capture[key] + g
        return
    if accumulate_only is not None and id(leaf) not in accumulate_only:
        return
    if create_graph:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    elif leaf.grad is None:
        array = g._data
        # A stored .grad must own its memory: the same array may reach two leaves (add's backward
        # hands one gradient to both inputs) or be a view of another leaf's gradient.
        if array.base is not None or id(array) in handed_out or not array.flags.writeable:
            array = array.copy()
        handed_out.add(id(array))
        leaf.grad = Tensor(array)
    else:
        leaf.grad._data += g._data
        leaf.grad._version[0] += 1
    if leaf._post_accumulate_hooks:
        for hook in list(leaf._post_accumulate_hooks.values()):
            hook(leaf)


def _check_backward_anomaly(node, g):
    if anomaly._AnomalyState.check_nan and anomaly.has_nonfinite(g._data):
        frame = getattr(node, "creation_frame", None)
        raise RuntimeError(f"Function '{node.name()}' returned nan values in its gradient output. "
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
        if not out.requires_grad:
            raise RuntimeError(f"{caller}: element {i} of tensors does not require grad and does not "
                               f"have a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError(f"{caller}: grad can be implicitly created only for scalar outputs "
                                   f"(output {i} has shape {tuple(out.shape)}); pass gradient=")
            g = Tensor(np.ones_like(out._data))
        elif not isinstance(g, Tensor):
            raise TypeError(f"{caller}: gradient must be a Tensor, got {type(g).__name__}")
        elif g.shape != out.shape:
            raise RuntimeError(f"{caller}: Mismatch in shape: grad_output[{i}] has a shape of "
                               f"{tuple(g.shape)} and output[{i}] has a shape of {tuple(out.shape)}.")
        result.append(g)
    return result
