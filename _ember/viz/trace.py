"""``ember.autograd.trace``: record every step of a backward pass, in the order the engine runs it.

    with ember.autograd.trace() as t:
        loss.backward()
    print(t.table())

While the context is active the backward engine hands each node to the tracer, which times the
node's backward (``time.perf_counter``) and notes the gradient that came in (shaped like the op's
output) and the gradients it sent on (one per input that needs one). Outside the context the engine
pays one None check per node.
"""
import html
import time
from dataclasses import dataclass, field

from ..engine.autograd import set_backward_tracer
from ..engine.function import Function
from ..engine.grad_mode import no_grad
from ..engine.tensor import Tensor
from .stats import array_norm
from .text import format_table, shape_text


@dataclass(frozen=True)
class SentGradient:
    """One gradient a step sent on: to input ``position`` of the op, which goes ``to`` a node
    (``'MulBackward'``) or a leaf (its name in ``params``, else ``'leaf'``). ``returned_shape`` is
    what the backward formula returned; ``shape`` the input's, after broadcasting's sum."""
    position: int
    to: str
    shape: tuple
    returned_shape: tuple
    norm: float


@dataclass(frozen=True)
class BackwardStep:
    """One node's backward: ``op`` (the node's name), its ``sequence_number`` (creation order), the
    incoming gradient's shape and L2 norm, the gradients sent on, and the wall time of its backward."""
    index: int
    op: str
    sequence_number: int
    grad_output_shape: tuple
    grad_output_norm: float
    sent: tuple = field(default_factory=tuple)
    seconds: float = 0.0


class trace:
    """Context manager recording each backward step run while it is active, in order, in ``steps``.

    ``params``: optional ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``) to name leaves.
    ``table()`` formats the steps as text, ``to_html()`` as an HTML table, ``plot()`` as a figure.
    """

    def __init__(self, params=None):
        self.steps = []
        self._names = {id(t): name for name, t in (params or {}).items()}
        self._previous = None

    def __enter__(self):
        self._previous = set_backward_tracer(self)
        return self

    def __exit__(self, *exc):
        set_backward_tracer(self._previous)
        return False

    def __call__(self, node, grad):
        """Called by the engine in place of ``type(node).backward(node, grad)``."""
        start = time.perf_counter()
        input_grads = type(node).backward(node, grad)
        seconds = time.perf_counter() - start
        with no_grad():  # recording is not part of any graph, even under create_graph=True
            self.steps.append(self._step(node, grad, input_grads, seconds))
        return input_grads

    def _step(self, node, grad, input_grads, seconds):
        grads = input_grads if isinstance(input_grads, tuple) else (input_grads,)
        sent = []
        for position, (edge, g, meta) in enumerate(zip(node.next_edges, grads, node.input_meta)):
            if edge is None or not isinstance(g, Tensor):
                continue  # nothing sent (a wrong type is the engine's to report)
            try:
                norm = array_norm(g.sum_to_size(meta[0])._data)
            except RuntimeError:
                norm = float("nan")  # a shape broadcasting cannot fix: the engine raises next
            to = edge.name() if isinstance(edge, Function) else self._names.get(id(edge), "leaf")
            sent.append(SentGradient(position, to, tuple(meta[0]), tuple(g.shape), norm))
        return BackwardStep(len(self.steps), node.name(), node.sequence_number, tuple(grad.shape),
                            array_norm(grad._data), tuple(sent), seconds)

    @property
    def total_seconds(self):
        return sum(step.seconds for step in self.steps)

    # ---- showing it --------------------------------------------------------------------------

    _HEADER = ("step", "op", "grad_output", "|grad_output|", "sent to", "grad_input", "|grad_input|", "µs")

    def _rows(self):
        """One row per gradient sent; a step's own columns only on its first row."""
        rows = []
        for step in self.steps:
            own = [str(step.index), step.op, shape_text(step.grad_output_shape),
                   f"{step.grad_output_norm:.4g}"]
            time_us = f"{step.seconds * 1e6:.0f}"
            if not step.sent:
                rows.append(own + ["", "", "", time_us])
            for k, s in enumerate(step.sent):
                shape = shape_text(s.shape) if s.shape == s.returned_shape else \
                    f"{shape_text(s.returned_shape)}->{shape_text(s.shape)}"
                rows.append((own if k == 0 else [""] * 4) + [s.to, shape, f"{s.norm:.4g}",
                                                             time_us if k == 0 else ""])
        return rows

    def table(self):
        """The steps as an aligned text table (``print(t.table())``; a REPL shows it as is).
        ``grad_output``: the gradient the node received (shaped like the op's output);
        ``grad_input``: each gradient it sent on (shaped like that input), written
        ``returned->input`` where broadcasting's gradient summed it down."""
        return format_table(self._summary(), self._HEADER, self._rows(), numeric={0, 3, 6, 7})

    def _summary(self):
        return f"backward: {len(self.steps)} steps, {self.total_seconds * 1e3:.2f} ms"

    def to_html(self):
        """The steps as an HTML table (notebooks show it: ``_repr_html_``)."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self._rows())
        return (f"<table><caption>{self._summary()}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")

    _repr_html_ = to_html

    def plot(self, path=None):
        """Bar charts, one bar per step in backward order: its time, and the norm of the gradient
        it received. Returns the matplotlib Figure; saves it to ``path`` when given."""
        from matplotlib.figure import Figure  # no pyplot: no display and no global backend needed

        labels = [f"{s.index} {s.op}" for s in self.steps]
        figure = Figure(figsize=(9, 1.5 + 0.25 * len(labels)), layout="constrained")
        time_axes, norm_axes = figure.subplots(1, 2, sharey=True)
        positions = range(len(labels))
        time_axes.barh(positions, [s.seconds * 1e6 for s in self.steps], color="tab:orange")
        time_axes.set(yticks=list(positions), yticklabels=labels, xlabel="time (µs)",
                      title="backward steps, first at the top")
        time_axes.invert_yaxis()
        norm_axes.barh(positions, [s.grad_output_norm for s in self.steps], color="tab:blue")
        norm_axes.set(xscale="log", xlabel="norm of the incoming gradient")
        if path is not None:
            figure.savefig(path, dpi=100)
        return figure

    def __repr__(self):
        return f"<ember.autograd.trace: {len(self.steps)} steps>"
