"""Reusing trained models: a new classifier head, and loading a checkpoint into a different
architecture by matching names and shapes, with a report of what was loaded and what was not.

    model = ember.models.create("lenet", num_classes=5)
    report = load_matching(model, "runs/lenet-fashion-mnist/checkpoint.safetensors")
    print(report)                  # a table: every key, loaded / mis-shaped / missing / unexpected
    model.freeze("layers.0", "layers.3")   # Module.freeze: keep the pretrained convolutions

(Freezing is ``Module.freeze`` / ``Module.unfreeze``; per-group learning rates are the optimizers'
parameter groups, as in PyTorch.)
"""
import os
from collections.abc import Mapping

import numpy as np

from ..engine import Tensor
from ..engine.table import format_table
from .linear import Linear
from .module import Module

__all__ = ["replace_head", "load_matching", "LoadReport"]


def replace_head(model, head):
    """Swap ``model``'s classifier, its last ``Linear`` layer in registration order (``layers.11``
    of the zoo's LeNet, ``fc`` of its ResNet), for ``head``: a Module, or an int ``num_classes``
    for a fresh ``Linear(in_features, num_classes)`` with the old layer's bias, device and dtype.
    Returns the new head (give its parameters to the optimizer). Where the classifier is
    ``model.layers[-1]`` or ``model.fc``, assigning to it does the same: ``model.layers[-1] =
    nn.Linear(84, 5)``."""
    name = None
    for module_name, module in model.named_modules():
        if isinstance(module, Linear):
            name, old = module_name, module
    if name is None:
        raise ValueError(f"replace_head: {type(model).__name__} has no Linear layer to replace")
    if name == "":
        raise ValueError("replace_head: the model is itself a Linear layer; build a new one instead")
    if isinstance(head, int):
        head = Linear(old.in_features, head, bias=old.bias is not None, device=old.weight.device,
                      dtype=old.weight.dtype)
    elif not isinstance(head, Module):
        raise TypeError(f"replace_head: head must be a Module or a number of classes, got {type(head).__name__}")
    parent_name, _, child_name = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child_name, head)
    return head


class LoadReport:
    """What ``load_matching`` did, key by key: ``rows`` holds ``(key, status, checkpoint shape,
    model shape)`` with status ``"loaded"``, ``"mis-shaped"`` (kept the model's own values),
    ``"missing"`` (not in the checkpoint) or ``"unexpected"`` (not in the model); a shape is None
    where that side lacks the key. ``print(report)`` shows them as a table."""

    def __init__(self, rows):
        self.rows = rows

    def _keys(self, status):
        return [key for key, s, _, _ in self.rows if s == status]

    @property
    def loaded_keys(self):
        return self._keys("loaded")

    @property
    def mismatched_keys(self):
        """``(key, checkpoint shape, model shape)`` of the entries skipped for their shape."""
        return [(key, source, target) for key, s, source, target in self.rows if s == "mis-shaped"]

    @property
    def missing_keys(self):
        return self._keys("missing")

    @property
    def unexpected_keys(self):
        return self._keys("unexpected")

    def __repr__(self):
        return (f"LoadReport(loaded={len(self.loaded_keys)}, mis-shaped={len(self.mismatched_keys)}, "
                f"missing={len(self.missing_keys)}, unexpected={len(self.unexpected_keys)})")

    def __str__(self):
        def shape(s):
            return "-" if s is None else str(tuple(s))
        lines = [format_table(("key", "status", "checkpoint", "model"),
                              [(key, status, shape(source), shape(target)) for key, status, source, target in self.rows])]
        in_model = sum(1 for row in self.rows if row[1] != "unexpected")
        lines.append(f"loaded {len(self.loaded_keys)} of the model's {in_model} tensors: "
                     f"{len(self.mismatched_keys)} mis-shaped, {len(self.missing_keys)} missing; "
                     f"{len(self.unexpected_keys)} unexpected in the checkpoint")
        return "\n".join(lines)


def load_matching(model, source):
    """Copy into ``model`` every tensor of ``source`` whose name and shape match one of the model's
    parameters or buffers, leave the rest of the model as it is, and return a ``LoadReport``.

    ``source``: a state dict, a Module (its ``state_dict()``), or the path of a checkpoint that
    ``ember.save`` wrote, either a state dict or a ``Trainer`` checkpoint (whose ``"model"`` entry is
    used); a damaged file raises ``ember.load``'s error. Unlike ``load_state_dict(strict=False)``,
    which PyTorch also has and which still raises on a shape mismatch, mis-shaped entries are
    skipped and reported, so a checkpoint with a 10-class head loads into a 5-class model.
    """
    state = _state_dict_of(source)
    own = model.state_dict(keep_vars=True)
    rows, matching = [], {}
    for key, target in own.items():
        if key not in state:
            rows.append((key, "missing", None, tuple(target.shape)))
            continue
        source_shape = _shape(state[key])
        if source_shape == tuple(target.shape):
            matching[key] = state[key]
            rows.append((key, "loaded", source_shape, source_shape))
        else:
            rows.append((key, "mis-shaped", source_shape, tuple(target.shape)))
    rows += [(key, "unexpected", _shape(value), None) for key, value in state.items() if key not in own]
    model.load_state_dict(matching, strict=False)
    return LoadReport(rows)


def _shape(value):
    """The shape of a state dict entry: a Tensor, or an array-like (NumPy array, number)."""
    return tuple(value.shape) if isinstance(value, Tensor) else np.shape(value)


def _state_dict_of(source):
    if isinstance(source, Module):
        return source.state_dict()
    if isinstance(source, (str, os.PathLike)):
        from ..serialization import load  # above nn in the layering: only needed for paths
        source = load(source)
        if isinstance(source, Mapping) and isinstance(source.get("model"), Mapping):
            source = source["model"]  # a Trainer checkpoint
    if not isinstance(source, Mapping):
        raise TypeError(f"load_matching: source must be a state dict, a Module or a checkpoint path, "
                        f"got {type(source).__name__}")
    return source
