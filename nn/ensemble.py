"""``Ensemble``: several classifiers combined into one Module.

    ensemble = Ensemble([model_a, model_b, model_c], weights=[2, 1, 1], mode="mean")
    probabilities = ensemble(images)          # (N, C)

Train the members independently (different seeds, then wrap them), or jointly: the ensemble's
parameters are all its members', so a loss on its output trains every member.
"""
import math

from .containers import ModuleList
from .functional import one_hot, softmax
from .module import Module

__all__ = ["Ensemble"]

MODES = ("mean", "vote", "logits")


class Ensemble(Module):
    """Combine classifiers that map the same input to logits (N, C). With weights ``w_i`` (default
    equal; normalized to sum to 1) and member logits ``z_i``, the output (N, C) is:

    * ``"mean"``: ``sum_i w_i softmax(z_i)``, the weighted mean of the members' probabilities. To
      train jointly, use ``nll_loss(output.log(), target)``.
    * ``"logits"``: ``sum_i w_i z_i``, the weighted mean of the logits; ``cross_entropy`` applies as
      to a single model.
    * ``"vote"``: ``sum_i w_i one_hot(argmax z_i)``, each class's share of the weighted votes (rows
      sum to 1). Not differentiable. When classes tie, ``output.argmax(-1)`` picks the lowest class
      index (argmax returns the first maximum), so the prediction is deterministic.
    """

    def __init__(self, models, weights=None, mode="mean"):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("Ensemble: needs at least one model")
        if mode not in MODES:
            raise ValueError(f"Ensemble: mode must be one of {MODES}, got {mode!r}")
        self.models = ModuleList(models)
        self.mode = mode
        self.weights = _normalized(weights, len(models))

    def forward(self, *args, **kwargs):
        outputs = [model(*args, **kwargs) for model in self.models]
        for i, output in enumerate(outputs[1:], 1):
            if output.shape != outputs[0].shape:
                raise ValueError(f"Ensemble: member {i} returned shape {tuple(output.shape)} but member 0 "
                                 f"returned {tuple(outputs[0].shape)}; members must predict the same classes")
        if self.mode == "mean":
            parts = [softmax(output, dim=-1) for output in outputs]
        elif self.mode == "logits":
            parts = outputs
        else:
            classes = outputs[0].shape[-1]
            parts = [one_hot(output.argmax(dim=-1), classes).to(output.dtype) for output in outputs]
        total = parts[0] * self.weights[0]
        for part, weight in zip(parts[1:], self.weights[1:]):
            total = total + part * weight
        return total

    def extra_repr(self):
        return f"mode={self.mode!r}, weights=({', '.join(f'{w:.4g}' for w in self.weights)})"


def _normalized(weights, count):
    """``weights`` as a tuple of floats summing to 1 (equal ones when None)."""
    if weights is None:
        return (1.0 / count,) * count
    try:
        weights = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise TypeError(f"Ensemble: weights must be a sequence of numbers, got {weights!r}") from None
    if len(weights) != count:
        raise ValueError(f"Ensemble: got {len(weights)} weights for {count} models")
    if not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"Ensemble: weights must be finite and non-negative, got {weights}")
    total = sum(weights)
    if total == 0:
        raise ValueError("Ensemble: the weights sum to 0; at least one must be positive")
    return tuple(w / total for w in weights)
