"""``ember.viz``: see backprop at work.

- ``graph(output, params)``: the autograd graph as a picture (DOT source; SVG/PNG with Graphviz);
  ``scopes(model)`` records which module call made each node, so the picture groups them.
- ``trace()``: every step of a backward pass, with gradient shapes, norms and times.
- ``watch(model)``: per-layer activation and gradient statistics over training, and their plots.
"""
from .graph import Graph, graph
from .scopes import scopes
from .stats import Stats, tensor_stats
from .trace import BackwardStep, SentGradient, trace
from .watch import Watch, watch

__all__ = ["graph", "Graph", "scopes", "trace", "BackwardStep", "SentGradient", "watch", "Watch", "Stats",
           "tensor_stats"]
