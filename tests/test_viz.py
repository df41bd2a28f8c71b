"""ember.viz.graph: the DOT it writes holds the graph's nodes and edges; module frames, collapsing,
and rendering (which needs Graphviz's dot or graphviz-pure, and says so without it)."""
import collections
import html
import pathlib
import re
import subprocess
import sys

import pytest

import ember
import ember.viz
from ember import nn
from ember.viz.render import dot_program

NEEDS_DOT = pytest.mark.skipif(dot_program() is None, reason="rendering needs Graphviz's dot or "
                               "graphviz-pure on PATH (pip install graphviz-pure); DOT tests still run")


def parse_dot(source):
    """{node id: plain label lines} and [(tail id, head id)] read back from DOT text."""
    nodes = {}
    for node_id, label in re.findall(r"^\s*(\w+) \[label=<(.*)>", source, flags=re.M):
        text = re.sub(r"<[^>]+>", "\n", label.replace("<br/>", "\n"))
        nodes[node_id] = [html.unescape(line) for line in text.split("\n") if line]
    edges = re.findall(r"^\s*(\w+) -> (\w+)", source, flags=re.M)
    return nodes, edges


def small_model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_dot_of_a_small_model_has_its_ops_parameters_and_edges():
    model = small_model()
    out = model(ember.randn(5, 3)).sum()
    source = ember.viz.graph(out, params=dict(model.named_parameters())).source
    nodes, edges = parse_dot(source)
    title = {node_id: lines[0] for node_id, lines in nodes.items()}
    linear_ids = sorted((i for i in nodes if title[i] == "LinearBackward"), key=lambda i: int(i[2:]))
    first, second = (f"LinearBackward#{k}" for k in (1, 2))
    name = {i: (first if i == linear_ids[0] else second) if i in linear_ids else title[i] for i in nodes}
    assert sorted(title.values()) == sorted(["0.weight", "0.bias", "2.weight", "2.bias", "LinearBackward",
                                             "LinearBackward", "ReluBackward", "SumBackward", "output"])
    expected = [("0.weight", first), ("0.bias", first), (first, "ReluBackward"), ("ReluBackward", second),
                ("2.weight", second), ("2.bias", second), (second, "SumBackward"), ("SumBackward", "output")]
    assert collections.Counter((name[t], name[h]) for t, h in edges) == collections.Counter(expected)
    # shapes and dtypes: the op's output, each parameter's own; saved tensors listed on the op
    by_name = {name[i]: lines for i, lines in nodes.items()}
    assert by_name[first][1] == "(5, 4) float32"
    assert by_name["0.weight"][1] == "(4, 3) float32"
    assert by_name["SumBackward"][1] == "() float32"
    assert "saved 0.weight (4, 3) float32" in by_name[first]
    assert "saved input (5, 3) float32" in by_name[first]
    assert not any(line.startswith("saved") for line in by_name["SumBackward"])


def test_saved_tensors_are_marked_freed_after_backward_and_can_be_hidden():
    model = small_model()
    out = model(ember.randn(5, 3)).sum()
    out.backward()
    nodes, _ = parse_dot(ember.viz.graph(out).source)
    linear = [lines for lines in nodes.values() if lines[0] == "LinearBackward"]
    assert all("saved freed by backward" in lines for lines in linear)
    plain, _ = parse_dot(ember.viz.graph(out, show_saved=False).source)
    assert not any(line.startswith("saved") for lines in plain.values() for line in lines)
    assert {lines[0] for lines in plain.values()} >= {"leaf", "LinearBackward", "output"}


def test_same_input_twice_gives_two_edges_and_broadcast_shapes():
    x = ember.randn(3, requires_grad=True)
    w = ember.randn(2, 3, requires_grad=True)
    y = (x * x + w).sum()
    nodes, edges = parse_dot(ember.viz.graph(y, params={"x": x, "w": w, "y": y}).source)
    ids = {lines[0]: i for i, lines in nodes.items()}
    assert edges.count((ids["x"], ids["MulBackward"])) == 2
    assert nodes[ids["AddBackward"]][1] == "(2, 3) float32"   # the broadcast result
    assert nodes[ids["x"]][1] == "(3,) float32"
    assert (ids["SumBackward"], ids["y"]) in edges            # outputs can be named too


def test_graph_needs_an_output_with_a_graph():
    with pytest.raises(ValueError, match="does not require grad"):
        ember.viz.graph(ember.ones(3) * 2)


def test_a_deep_chain_draws_without_recursion():
    x = ember.ones(1, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    nodes, edges = parse_dot(ember.viz.graph(y).source)
    assert len(nodes) == 3000 + 2 and len(edges) == 3000 + 1


def test_lenet_graph_frames_each_layer_with_its_parameters():
    ember.manual_seed(0)
    model = ember.models.create("lenet")
    with ember.viz.scopes(model):
        loss = nn.functional.cross_entropy(model(ember.randn(2, 1, 28, 28)), ember.tensor([1, 2]))
    source = ember.viz.graph(loss, params=dict(model.named_parameters())).source
    nodes, edges = parse_dot(source)
    ops = [lines[0] for lines in nodes.values() if lines[0].endswith("Backward")]
    assert ops.count("ConvolutionBackward") == 2 and ops.count("LinearBackward") == 3
    assert ops.count("ReluBackward") == 4 and "CrossEntropyBackward" in ops
    assert sum(1 for lines in nodes.values() if lines[0].startswith("layers.")) == 10  # parameters
    for index, cls in [(0, "Conv2d"), (1, "ReLU"), (7, "Linear"), (11, "Linear")]:
        frame = re.search(r"subgraph cluster_\d+ \{\n[^\n]*label=\"layers\.%d \(%s\)\"(.*?)\n\t+\}"
                          % (index, cls), source, flags=re.S)
        assert frame is not None, f"no frame for layers.{index}"
        if cls in ("Conv2d", "Linear"):
            assert f"layers.{index}.weight" in frame.group(1)  # a parameter sits in its layer's frame
    assert re.search(r"^\top\d+ \[label=<<b>CrossEntropyBackward", source, flags=re.M)  # outside the model


class Unrolled(nn.Module):
    """An LSTM cell run over the first axis of its input, then a linear head on the last state."""

    def __init__(self):
        super().__init__()
        self.cell, self.head = nn.LSTMCell(3, 4), nn.Linear(4, 2)

    def forward(self, xs):
        h = c = ember.zeros(xs.shape[1], 4)
        for x in xs:
            h, c = self.cell(x, (h, c))
        return self.head(h)


def test_unrolled_lstm_collapses_its_repeated_cell_calls():
    ember.manual_seed(0)
    model, steps = Unrolled(), 5
    with ember.viz.scopes(model):
        out = model(ember.randn(steps, 2, 3)).sum()
    params = dict(model.named_parameters())
    full_nodes, _ = parse_dot(ember.viz.graph(out, params=params).source)
    nodes, edges = parse_dot(ember.viz.graph(out, params=params, collapse=True).source)
    steps_drawn = sum(1 for lines in full_nodes.values() if lines[0] == "LSTMStepBackward")
    assert steps_drawn == steps
    assert [lines[0] for lines in nodes.values()].count("LSTMStepBackward") == 1  # the first call only
    (box, lines), = [(i, lines) for i, lines in nodes.items() if i.startswith("calls")]
    assert lines[0] == f"cell (LSTMCell) calls 2-{steps}"
    assert len(nodes) < len(full_nodes) - 10
    head = next(i for i, lines in nodes.items() if lines[0] == "LinearBackward" and "(2, 2) float32" in lines)
    assert (box, head) in edges                                   # the last call feeds the head
    first_step = next(i for i, lines in nodes.items() if lines[0] == "LSTMStepBackward")
    assert any(t in nodes and h == box and t != first_step for t, h in edges)   # the first call feeds the box
    weight = next(i for i, lines in nodes.items() if lines[0] == "cell.weight_hh")
    assert (weight, box) in edges and (weight, first_step) in edges


def test_identical_blocks_in_a_row_collapse_into_one_box():
    ember.manual_seed(0)
    model = nn.Sequential(*[nn.Sequential(nn.Linear(4, 4), nn.Tanh()) for _ in range(4)])
    with ember.viz.scopes(model):
        out = model(ember.randn(2, 4)).sum()
    g = ember.viz.graph(out, params=dict(model.named_parameters()), collapse=True)
    nodes, edges = parse_dot(g.source)
    (box, lines), = [(i, lines) for i, lines in nodes.items() if i.startswith("calls")]
    assert lines == ["1 ... 3 (Sequential)", "3 more like 0, 6 ops"]
    assert [lines[0] for lines in nodes.values()].count("TanhBackward") == 1
    for k in (1, 2, 3):
        weight = next(i for i, lines in nodes.items() if lines[0] == f"{k}.0.weight")
        assert (weight, box) in edges


def test_collapse_without_scopes_says_how():
    model = small_model()
    with pytest.raises(ValueError, match="ember.viz.scopes"):
        ember.viz.graph(model(ember.randn(1, 3)).sum(), collapse=True)


def test_scopes_remove_their_hooks():
    model = small_model()
    with ember.viz.scopes(model):
        pass
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_dot_file_needs_no_graphviz_and_pictures_say_how_to_get_it(tmp_path, monkeypatch):
    model = small_model()
    g = ember.viz.graph(model(ember.randn(1, 3)).sum())
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot, no graphviz-pure
    g.save(tmp_path / "graph.dot")
    assert (tmp_path / "graph.dot").read_text() == g.source
    with pytest.raises(RuntimeError, match="pip install graphviz-pure"):
        g.save(tmp_path / "graph.svg")
    assert g._repr_svg_() is None


@NEEDS_DOT
def test_renders_svg_and_png(tmp_path):
    model = small_model()
    g = ember.viz.graph(model(ember.randn(1, 3)).sum(), params=dict(model.named_parameters()))
    svg = g.save(tmp_path / "graph.svg").read_text()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    assert "LinearBackward" in svg and "0.weight" in svg
    png = (g.save(tmp_path / "graph.png")).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@NEEDS_DOT
def test_draw_graphs_example_runs_quick(tmp_path):
    root = pathlib.Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, str(root / "examples" / "draw_graphs.py"), "--quick", "--out",
                             str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name in ("lenet-graph", "tiny-graph", "lstm-graph"):
        assert "<svg" in (tmp_path / f"{name}.svg").read_text()
