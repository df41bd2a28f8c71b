"""Draw the autograd graphs shown in the README and in docs/backprop.md (into docs/images/).

    python examples/draw_graphs.py                 # needs Graphviz's dot, or: pip install graphviz-pure
    python examples/draw_graphs.py --quick --out /tmp/graphs

The pictures: LeNet-5 on a batch of two with a cross-entropy loss, each layer framed
(lenet-graph.svg); the tiny expression tanh(x*y + x) of the chain-rule section (tiny-graph.svg);
and an LSTM cell unrolled over 6 steps, drawn with its repeated calls collapsed (lstm-graph.svg).
``--quick`` is the same (it takes seconds either way); it exists so that CI runs this script.
"""
import argparse
import pathlib

import ember
import ember.viz
from ember import nn

OUT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "images"


class UnrolledLSTM(nn.Module):
    """An LSTM cell stepped over the first axis of its input; a linear head on the last state."""

    def __init__(self, input_size=3, hidden_size=4, classes=2):
        super().__init__()
        self.hidden_size = hidden_size
        self.cell, self.head = nn.LSTMCell(input_size, hidden_size), nn.Linear(hidden_size, classes)

    def forward(self, sequence):
        h = c = ember.zeros(sequence.shape[1], self.hidden_size)
        for x in sequence:
            h, c = self.cell(x, (h, c))
        return self.head(h)


def lenet():
    ember.manual_seed(0)
    model = ember.models.create("lenet")
    images, labels = ember.randn(2, 1, 28, 28), ember.tensor([3, 7])
    with ember.viz.scopes(model):
        loss = nn.functional.cross_entropy(model(images), labels)
    return ember.viz.graph(loss, params=dict(model.named_parameters()))


def tiny():
    x = ember.tensor(0.5, dtype=ember.float64, requires_grad=True)
    y = ember.tensor(-1.5, dtype=ember.float64, requires_grad=True)
    f = (x * y + x).tanh()
    return ember.viz.graph(f, params={"x": x, "y": y, "f": f})


def lstm(steps=6):
    ember.manual_seed(0)
    model = UnrolledLSTM()
    with ember.viz.scopes(model):
        loss = model(ember.randn(steps, 2, 3)).sum()
    return ember.viz.graph(loss, params=dict(model.named_parameters()), collapse=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same pictures (for CI)")
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in [("lenet-graph", lenet), ("tiny-graph", tiny), ("lstm-graph", lstm)]:
        graph = draw()
        print(f"{name}: {len(graph.nodes)} nodes, {len(graph.edges)} edges -> "
              f"{graph.save(args.out / f'{name}.svg')}")


if __name__ == "__main__":
    main()
