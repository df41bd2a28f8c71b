"""``ember.viz.scopes(model)``: remember which module call created each autograd node.

    with ember.viz.scopes(model):
        loss = loss_fn(model(x), y)
    ember.viz.graph(loss, params=dict(model.named_parameters()), collapse=True)

Each call of ``model`` or of a submodule notes the sequence number before its forward; after it,
every node reachable from the call's output with a larger number was made by that call (inputs are
always older than the ops that use them). Nodes are tagged in a weak table, so the tags go away with
the graph, and ``graph`` draws a box around each call and can collapse calls that repeat.
"""
import itertools
import weakref

from ..engine.function import Function, _next_sequence_number
from ..engine.tensor import tensors_in

# node -> the module calls that made it, outermost first
_node_scopes = weakref.WeakKeyDictionary()
_call_ids = itertools.count()


class ModuleCall:
    """One call of a module: its dotted ``name`` in the model, its class, and ``index``, the how
    many-th call of that module it was while the scope was recording."""

    __slots__ = ("id", "name", "cls", "index", "start")

    def __init__(self, name, cls, index, start):
        self.id, self.name, self.cls, self.index, self.start = next(_call_ids), name, cls, index, start

    def title(self):
        return f"{self.name} ({self.cls})" if self.name else self.cls

    def __repr__(self):
        return f"<call {self.index} of {self.title()}>"


def scopes_of(node):
    """The module calls that made ``node``, outermost first (empty when none was recorded)."""
    return _node_scopes.get(node, ())


class scopes:
    """Context manager tagging the nodes each call of ``model`` (and of its submodules) creates."""

    def __init__(self, model):
        self.model = model
        self._handles = []
        self._open = {}    # id(module) -> stack of calls in progress (a module may call itself)
        self._counts = {}  # id(module) -> calls so far

    def __enter__(self):
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._enter_call(name)))
            self._handles.append(module.register_forward_hook(self._exit_call))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        return False

    def _enter_call(self, name):
        def pre_hook(module, args):
            index = self._counts.get(id(module), 0)
            self._counts[id(module)] = index + 1
            # Drawing a number costs nothing: sequence numbers need to grow, not to be contiguous.
            call = ModuleCall(name, type(module).__name__, index, _next_sequence_number())
            self._open.setdefault(id(module), []).append(call)
        return pre_hook

    def _exit_call(self, module, args, output):
        call = self._open[id(module)].pop()
        stack = [t.grad_fn for t in tensors_in(output) if t.grad_fn is not None]
        seen = set()
        while stack:
            node = stack.pop()
            if node in seen or node.sequence_number < call.start:
                continue  # made before this call began
            seen.add(node)
            _node_scopes[node] = (call,) + _node_scopes.get(node, ())  # inner calls tagged first
            stack.extend(e for e in node.next_edges if isinstance(e, Function))
