"""``ember.viz.graph``: the autograd graph behind a tensor, as DOT source, SVG or PNG.

    g = ember.viz.graph(loss, params=dict(model.named_parameters()))
    g.save("graph.svg")        # or .png (needs Graphviz's dot), or .dot (DOT source, needs nothing)

Boxes are ops (the node's name, its output's shape and dtype, and what it saved for backward),
blue boxes are leaves (parameters by name), green ones the outputs; arrows run in forward order, so
the gradient flows against them. Run the forward inside ``ember.viz.scopes(model)`` and each module
call gets a frame; ``collapse=True`` then draws a call that repeats (an LSTM cell unrolled over time,
a stack of identical blocks) once, and the repeats as one box.
"""
import html

from ..engine.function import _SAVED_INPUT, _SAVED_OUTPUT, Function
from ..engine.tensor import Tensor
from .render import render
from .scopes import scopes_of
from .text import shape_text

_STYLES = {
    "op": dict(shape="box", style="rounded,filled", fillcolor="#eeeeee"),
    "leaf": dict(shape="box", style="filled", fillcolor="#cfe2ff"),
    "output": dict(shape="box", style="filled", fillcolor="#c9f2c9"),
    "collapsed": dict(shape="box3d", style="filled", fillcolor="#fff2cc"),
}
_SAVED_COLOR = "#b35900"


def graph(output, params=None, *, show_saved=True, collapse=False):
    """The autograd graph that produced ``output`` (a Tensor or a sequence of them) as a ``Graph``.

    ``params``: ``{name: tensor}`` naming leaves (and outputs) in the picture, typically
    ``dict(model.named_parameters())``. ``show_saved``: list what each op saved for backward.
    ``collapse``: draw repeated module calls once (needs the forward run under ``ember.viz.scopes``).
    """
    outputs = [output] if isinstance(output, Tensor) else list(output)
    if not any(t.requires_grad for t in outputs):
        raise ValueError("graph: the output has no autograd graph: it does not require grad (made "
                         "from tensors without requires_grad=True, or under no_grad)")
    names = {id(t): name for name, t in (params or {}).items()}
    nodes, leaves, shapes = _collect(outputs)
    layout = _CallLayout(nodes, collapse)
    return _draw(outputs, nodes, leaves, shapes, names, layout, show_saved)


class Graph:
    """A drawn autograd graph. ``source``: its DOT text; ``nodes``: {id: plain-text label};
    ``edges``: [(tail id, head id)] in forward direction; ``digraph``: the ``graphviz.Digraph``."""

    def __init__(self, digraph, nodes, edges):
        self.digraph, self.nodes, self.edges = digraph, nodes, edges

    @property
    def source(self):
        return self.digraph.source

    def render(self, format="svg"):
        """The picture as bytes ('svg', 'png', ...): needs Graphviz's ``dot`` or graphviz-pure."""
        return render(self.source, format)

    def save(self, path):
        """Write the graph to ``path``; its suffix picks the format: .dot/.gv (DOT source, no
        Graphviz needed), .svg, .png. Returns ``path``."""
        suffix = str(path).rsplit(".", 1)[-1].lower()
        if suffix in ("dot", "gv"):
            with open(path, "w") as f:
                f.write(self.source)
        else:
            with open(path, "wb") as f:
                f.write(self.render(suffix))
        return path

    def _repr_svg_(self):  # notebooks draw the picture when Graphviz is there
        try:
            return self.render("svg").decode()
        except RuntimeError:
            return None

    def __str__(self):
        return self.source


# ---- what is in the graph -------------------------------------------------------------------------

def _collect(outputs):
    """The nodes reachable from ``outputs`` in creation order, the leaves in order of first use,
    and each node's output (shape, dtype), read from its consumers' ``input_meta``."""
    shapes, stack, seen = {}, [], set()
    for t in outputs:
        if t.grad_fn is not None:
            shapes[t.grad_fn] = (t._data.shape, t._data.dtype)
            stack.append(t.grad_fn)
    while stack:  # iterative: a graph may be deeper than Python's recursion limit
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for edge, meta in zip(node.next_edges, node.input_meta):
            if isinstance(edge, Function):
                shapes.setdefault(edge, meta)
                stack.append(edge)
    nodes = sorted(seen, key=lambda n: n.sequence_number)
    leaves = {}
    for t in outputs:
        if t.grad_fn is None:
            leaves[id(t)] = t
    for node in nodes:
        for edge in node.next_edges:
            if isinstance(edge, Tensor):
                leaves.setdefault(id(edge), edge)
    return nodes, list(leaves.values()), shapes


def _saved_items(node, names):
    """What ``node`` keeps for its backward: the tensors it saved and the arrays it holds."""
    saved = node._saved  # the raw record: saved_tensors would unpack it, and raise once it is freed
    if saved is None:
        return ["freed by backward"]
    items = []
    for kind, value, _, _ in saved:
        if kind == _SAVED_INPUT:
            items.append(f"{names.get(id(value), 'input')} {_about(value._data)}")
        elif kind == _SAVED_OUTPUT:
            items.append(f"output {_about(value)}")
        elif hasattr(value, "shape") and hasattr(value, "dtype"):
            items.append(f"array {_about(value)}")
    for attribute, value in vars(node).items():  # arrays an op keeps on ctx (probabilities, masks)
        array = value._data if isinstance(value, Tensor) else value
        if not attribute.startswith("_") and hasattr(array, "shape") and hasattr(array, "dtype"):
            items.append(f"{attribute} {_about(array)}")
    return items


def _about(array):
    return _describe(array.shape, array.dtype)


def _describe(shape, dtype):
    return f"{shape_text(tuple(shape))} {dtype}"


# ---- module frames and collapsing ------------------------------------------------------------------

class _CallLayout:
    """Which module calls get a frame, and which repeated calls become one box.

    Sibling calls are grouped when they are calls of the same module (an LSTM cell at each time
    step), or when they follow each other directly and run the same ops (a stack of identical
    blocks). With ``collapse``, each group's first call is drawn in full and the rest as one box.
    """

    def __init__(self, nodes, collapse):
        self.members, self.parent, self.children = {}, {}, {None: []}
        for node in nodes:
            scope = scopes_of(node)
            for depth, call in enumerate(scope):
                if call not in self.members:
                    self.members[call] = []
                    self.parent[call] = scope[depth - 1] if depth else None
                    self.children.setdefault(self.parent[call], []).append(call)
                    self.children[call] = []
                self.members[call].append(node)
        if collapse and not self.members:
            raise ValueError("graph(collapse=True) needs to know which module call made each op: run "
                             "the forward inside `with ember.viz.scopes(model):`")
        self.framed = set()     # calls drawn as a frame
        self.boxes = {}         # first collapsed call of a group -> (every collapsed call, first call)
        self.box_of = {}        # node -> the box that stands for it
        self._arrange(None, nodes, collapse)

    def _arrange(self, parent, parent_nodes, collapse):
        siblings = sorted(self.children[parent], key=lambda c: c.start)
        groups = self._groups(siblings, parent_nodes) if collapse else [[c] for c in siblings]
        for group in groups:
            first = group[0]
            if set(self.members[first]) != set(parent_nodes):  # a frame around everything says nothing
                self.framed.add(first)
            self._arrange(first, self.members[first], collapse)
            if len(group) > 1:
                self.boxes[group[1]] = (group[1:], first)
                for call in group[1:]:
                    for node in self.members[call]:
                        self.box_of[node] = group[1]

    def _groups(self, siblings, parent_nodes):
        """Sibling calls grouped: same module, or back-to-back calls running the same ops."""
        order = {node: k for k, node in enumerate(parent_nodes)}
        groups = []
        for call in siblings:
            for group in groups:
                if group[0].name == call.name or (self._signature(group[0]) == self._signature(call)
                                                  and self._adjacent(group[-1], call, order)):
                    group.append(call)
                    break
            else:
                groups.append([call])
        return groups

    def _signature(self, call):
        return call.cls, tuple(node.name() for node in self.members[call])

    def _adjacent(self, before, after, order):
        """No op of the parent runs between the two calls."""
        return order[self.members[after][0]] == order[self.members[before][-1]] + 1

    def frame_of(self, call):
        """The innermost framed call among ``call`` and its ancestors (None: the top level)."""
        while call is not None and call not in self.framed:
            call = self.parent[call]
        return call

    def home(self, node):
        scope = scopes_of(node)
        return self.frame_of(scope[-1]) if scope else None


# ---- drawing -------------------------------------------------------------------------------------

def _draw(outputs, nodes, leaves, shapes, names, layout, show_saved):
    import graphviz  # optional dependency (ember[viz]): only drawing needs it

    digraph = graphviz.Digraph("ember", graph_attr=dict(rankdir="TB", fontname="Helvetica", fontsize="11"),
                               node_attr=dict(fontname="Helvetica", fontsize="10"),
                               edge_attr=dict(arrowsize="0.7"))
    placed = {}    # frame call (None: top level) -> [(id, label lines, kind)]
    labels, ids = {}, {}

    def place(frame, node_id, lines, kind):
        placed.setdefault(frame, []).append((node_id, lines, kind))
        labels[node_id] = "\n".join(lines)

    for k, leaf in enumerate(leaves):
        ids[id(leaf)] = f"leaf{k}"
        name = names.get(id(leaf))
        place(_leaf_frame(name, layout), f"leaf{k}", [name or "leaf", _about(leaf._data)], "leaf")
    for node in nodes:
        box = layout.box_of.get(node)
        if box is not None:
            ids[node] = f"calls{box.id}"
            continue
        ids[node] = f"op{node.sequence_number}"
        lines = [node.name(), _describe(*shapes[node])]
        if show_saved:
            lines += [f"saved {item}" for item in _saved_items(node, names)]
        place(layout.home(node), ids[node], lines, "op")
    for first, (calls, shown) in layout.boxes.items():
        ops = sum(len(layout.members[c]) for c in calls)
        if first.name == shown.name:  # one module called again and again
            lines = [f"{first.title()} calls {calls[0].index + 1}-{calls[-1].index + 1}",
                     f"{len(calls)} more calls, {ops} ops"]
        else:                         # modules in a row that run the same ops
            lines = [f"{first.name} ... {calls[-1].name} ({first.cls})",
                     f"{len(calls)} more like {shown.name}, {ops} ops"]
        place(layout.frame_of(layout.parent[first]), f"calls{first.id}", lines, "collapsed")

    edges, seen = [], set()
    for node in nodes:
        for edge in node.next_edges:
            if edge is None:
                continue
            tail, head = ids[edge if isinstance(edge, Function) else id(edge)], ids[node]
            boxed = tail.startswith("calls") or head.startswith("calls")
            if tail == head or (boxed and (tail, head) in seen):
                continue  # inside one box, or an arrow a box already has
            seen.add((tail, head))
            edges.append((tail, head))
    for k, t in enumerate(outputs):
        out_id = f"output{k}"
        place(None, out_id, [names.get(id(t), "output"), _about(t._data)], "output")
        edges.append((ids[t.grad_fn] if t.grad_fn is not None else ids[id(t)], out_id))

    _emit(digraph, None, placed, layout)
    for tail, head in edges:
        digraph.edge(tail, head)
    return Graph(digraph, labels, edges)


def _leaf_frame(name, layout):
    """A parameter sits in its module's frame when that module ran exactly once."""
    if name is None or "." not in name:
        return None
    module = name.rsplit(".", 1)[0]
    calls = [c for c in layout.members if c.name == module]
    return calls[0] if len(calls) == 1 and calls[0] in layout.framed else None


def _emit(graph, frame, placed, layout):
    for node_id, lines, kind in placed.get(frame, ()):
        graph.node(node_id, _html_label(lines), **_STYLES[kind])
    for child in layout.children.get(frame, ()):
        for call in _framed_below(child, layout):
            with graph.subgraph(name=f"cluster_{call.id}") as sub:
                sub.attr(label=call.title() + (f" call {call.index + 1}" if call.index else ""),
                         style="rounded,dashed", color="#888888", fontsize="10", labeljust="l")
                _emit(sub, call, placed, layout)


def _framed_below(call, layout):
    """``call`` if it has a frame, else the nearest framed calls inside it."""
    if call in layout.framed:
        return [call]
    return [c for child in layout.children[call] for c in _framed_below(child, layout)]


def _html_label(lines):
    """First line bold; 'saved ...' lines in orange, so saved tensors stand out."""
    parts = [f"<b>{html.escape(lines[0])}</b>"]
    for line in lines[1:]:
        text = html.escape(line)
        parts.append(f'<font color="{_SAVED_COLOR}">{text}</font>' if line.startswith("saved ") else text)
    return "<" + "<br/>".join(parts) + ">"
