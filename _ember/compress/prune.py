"""Pruning: zero out the least important weights, as ``torch.nn.utils.prune`` does.

    prune.l1_unstructured(model.fc, "weight", amount=0.5)        # half of fc's weights, smallest |w|
    prune.global_unstructured([(m, "weight") for m in layers], amount=0.9)   # 90% across layers
    prune.ln_structured(model.conv, "weight", amount=0.25, n=2, dim=0)      # a quarter of the filters
    prune.remove(model.fc, "weight")                             # make it permanent

How a mask persists through training: pruning moves the Parameter ``weight`` to ``weight_orig``,
adds a buffer ``weight_mask`` (1 keep, 0 pruned) and a forward pre-hook that sets the plain
attribute ``weight = weight_orig * weight_mask`` before every forward. The layer computes with
that product, so a pruned weight is exactly zero, and its gradient with respect to
``weight_orig`` is ``grad * mask``, zero where pruned: momentum and Adam's moments see no gradient
there, and whatever weight decay does to ``weight_orig`` the mask hides. ``state_dict`` holds
``weight_orig`` and ``weight_mask`` (load it into a model pruned the same way, or pruned with
``identity`` first); ``remove`` folds the mask in and restores a plain ``weight`` Parameter (the
same object, so an optimizer holding it stays valid).

``amount`` is PyTorch's: a float in [0, 1] is the fraction of the entries (or channels) *still
unpruned* to prune now, rounded to the nearest integer; an int is a count. Pruning twice with 0.5
leaves a quarter. Masks are computed on the CPU with NumPy (a one-off cost) and moved to the
weight's device.
"""
import dataclasses
import math
from collections import namedtuple
from numbers import Integral, Real

import numpy as np

from ..engine import Tensor, no_grad, tensor

__all__ = ["l1_unstructured", "global_unstructured", "ln_structured", "custom_from_mask", "identity",
           "remove", "is_pruned", "effective_parameters", "sparsity_report", "SparsityReport", "SparsityRow",
           "polynomial_schedule", "iterative_prune"]


class _MaskHook:
    """The forward pre-hook of one pruned tensor: ``module.<name> = <name>_orig * <name>_mask``."""

    def __init__(self, name):
        self.name = name

    def __call__(self, module, args):
        object.__setattr__(module, self.name, _masked(module, self.name))


def _masked(module, name):
    return module._parameters[name + "_orig"] * module._buffers[name + "_mask"]


def _hook_id(module, name):
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, _MaskHook) and hook.name == name:
            return key
    return None


def _pruned_names(module):
    return {h.name for h in module._forward_pre_hooks.values() if isinstance(h, _MaskHook)}


def is_pruned(module):
    """True when ``module`` or one of its descendants has a pruned tensor."""
    return any(_pruned_names(m) for m in module.modules())


# ---- applying a mask ---------------------------------------------------------------------------

def custom_from_mask(module, name, mask):
    """Prune the entries of ``module.<name>`` where ``mask`` (same shape; Tensor or array) is 0. On
    an already pruned tensor the new mask multiplies the old one. Returns ``module``."""
    weight = _current(module, name, "custom_from_mask")
    mask_array = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if mask_array.shape != tuple(weight.shape):
        raise ValueError(f"custom_from_mask: mask of shape {mask_array.shape} does not match "
                         f"{name} of shape {tuple(weight.shape)} in {type(module).__name__}")
    new_mask = tensor(mask_array, dtype=weight.dtype, device=weight.device)
    if name in _pruned_names(module):
        module._buffers[name + "_mask"] = module._buffers[name + "_mask"] * new_mask
    else:
        original = module._parameters[name]
        delattr(module, name)
        module.register_parameter(name + "_orig", original)
        module.register_buffer(name + "_mask", new_mask)
        module.register_forward_pre_hook(_MaskHook(name))
    with no_grad():  # the value until the next forward, whose hook records the product in the graph
        object.__setattr__(module, name, _masked(module, name))
    return module


def identity(module, name):
    """Set up pruning of ``module.<name>`` with a mask of ones (prunes nothing): what a model needs
    before it loads a pruned model's ``state_dict``. Returns ``module``."""
    return custom_from_mask(module, name, np.ones(tuple(_current(module, name, "identity").shape)))


def remove(module, name):
    """Make the pruning of ``module.<name>`` permanent: ``weight_orig * weight_mask`` becomes the
    Parameter ``weight`` again (the same Parameter object), mask and hook are dropped."""
    key = _hook_id(module, name)
    if key is None:
        raise ValueError(f"Parameter '{name}' of module {type(module).__name__} has to be pruned "
                         f"before pruning can be removed")
    with no_grad():
        weight = _masked(module, name)
        original = module._parameters[name + "_orig"]
        original.copy_(weight)
    object.__delattr__(module, name)
    delattr(module, name + "_orig")
    delattr(module, name + "_mask")
    del module._forward_pre_hooks[key]
    module.register_parameter(name, original)
    return module


def _current(module, name, function):
    """The tensor ``module.<name>`` as the forward uses it (masked, when pruned)."""
    if name in _pruned_names(module):
        with no_grad():
            return _masked(module, name)
    value = module._parameters.get(name)
    if value is None:
        raise ValueError(f"{function}: {type(module).__name__} has no parameter named '{name}' "
                         f"(parameters: {', '.join(module._parameters) or 'none'})")
    return value.detach()


def _current_mask(module, name, like):
    """The mask of ``module.<name>`` as a NumPy array (ones when not pruned yet)."""
    if name in _pruned_names(module):
        return module._buffers[name + "_mask"].cpu().numpy()
    return np.ones(like.shape, like.dtype)


# ---- choosing what to prune --------------------------------------------------------------------

def _count_to_prune(amount, size, function):
    """PyTorch's rule: a float is a fraction of ``size`` rounded to the nearest integer (Python's
    round, ties to even), an int a count."""
    if isinstance(amount, bool) or not isinstance(amount, Real):
        raise TypeError(f"{function}: amount must be a float in [0, 1] or a non-negative int, got "
                        f"{type(amount).__name__}")
    if isinstance(amount, Integral):
        if amount < 0:
            raise ValueError(f"{function}: amount={amount} should be a non-negative integer")
        if amount > size:
            raise ValueError(f"{function}: amount={amount} should be smaller than the number of "
                             f"parameters to prune={size}")
        return int(amount)
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"{function}: amount={amount} should be a float in the range [0, 1]")
    return round(amount * size)


def _smallest_mask(scores, mask, amount, function):
    """``mask`` (flat NumPy arrays) with the ``amount`` entries of smallest |score| among those still
    unpruned set to 0 (ties: the earlier entry goes first)."""
    alive = np.flatnonzero(mask)
    k = _count_to_prune(amount, alive.size, function)
    new_mask = mask.copy()
    new_mask[alive[np.argsort(np.abs(scores[alive]), kind="stable")[:k]]] = 0
    return new_mask


def _scores(module, name, importance_scores, function):
    weight = _current(module, name, function)
    if importance_scores is None:
        return weight.cpu().numpy()
    scores = importance_scores.detach().cpu().numpy() if isinstance(importance_scores, Tensor) \
        else np.asarray(importance_scores)
    if scores.shape != tuple(weight.shape):
        raise ValueError(f"{function}: importance_scores of shape {scores.shape} should match "
                         f"{name} of shape {tuple(weight.shape)}")
    return scores


def l1_unstructured(module, name="weight", amount=0.5, importance_scores=None):
    """Prune ``amount`` of the unpruned entries of ``module.<name>`` with the smallest absolute value
    (or smallest ``|importance_scores|``, same shape). Returns ``module``."""
    scores = _scores(module, name, importance_scores, "l1_unstructured")
    mask = _current_mask(module, name, scores)
    new_mask = _smallest_mask(scores.ravel(), mask.ravel(), amount, "l1_unstructured")
    return custom_from_mask(module, name, new_mask.reshape(mask.shape))


def global_unstructured(parameters, amount, importance_scores=None):
    """Magnitude pruning across tensors: pool the unpruned entries of every ``(module, name)`` in
    ``parameters`` and prune ``amount`` of them with the smallest |w| (PyTorch's
    ``global_unstructured`` with ``pruning_method=L1Unstructured``), so layers lose different
    fractions. ``importance_scores``: optional ``{(module, name): scores}``."""
    parameters = list(parameters)
    if not parameters:
        raise ValueError("global_unstructured: parameters is empty; pass (module, name) pairs")
    importance_scores = importance_scores or {}
    scores = [_scores(m, n, importance_scores.get((m, n)), "global_unstructured") for m, n in parameters]
    masks = [_current_mask(m, n, s) for (m, n), s in zip(parameters, scores)]
    new_mask = _smallest_mask(np.concatenate([s.ravel() for s in scores]),
                              np.concatenate([m.ravel() for m in masks]), amount, "global_unstructured")
    offsets = np.cumsum([0] + [m.size for m in masks])
    for (module, name), mask, start, end in zip(parameters, masks, offsets[:-1], offsets[1:]):
        custom_from_mask(module, name, new_mask[start:end].reshape(mask.shape))


def ln_structured(module, name="weight", amount=0.5, n=2, dim=0, importance_scores=None):
    """Prune whole slices along ``dim`` (``dim=0``: a convolution's output channels, a linear layer's
    rows): ``amount`` of the slices that still have unpruned entries, those with the smallest L``n``
    norm (``n``: a number, ``inf``, ``-inf`` or ``"fro"``). Returns ``module``."""
    scores = _scores(module, name, importance_scores, "ln_structured")
    if not -scores.ndim <= dim < scores.ndim:
        raise IndexError(f"ln_structured: dim {dim} is out of range for {name} of shape {scores.shape}")
    dim %= scores.ndim
    others = tuple(d for d in range(scores.ndim) if d != dim)
    mask = _current_mask(module, name, scores)
    alive = mask.sum(axis=others) != 0
    norms = _norm(scores, n, others)
    channel_mask = _smallest_mask(norms, alive.astype(np.float64), amount, "ln_structured")
    shape = [1] * scores.ndim
    shape[dim] = -1
    return custom_from_mask(module, name, mask * channel_mask.reshape(shape))


def _norm(array, n, axes):
    """The L``n`` norm over ``axes``, as ``torch.norm(t, p=n, dim=axes)``."""
    magnitude = np.abs(array.astype(np.float64))
    if n == "fro":
        n = 2
    if not isinstance(n, Real):
        raise ValueError(f"ln_structured: n must be a number, inf, -inf or 'fro', got {n!r}")
    if n == math.inf:
        return magnitude.max(axis=axes)
    if n == -math.inf:
        return magnitude.min(axis=axes)
    if n == 0:
        return (magnitude != 0).sum(axis=axes).astype(np.float64)
    return (magnitude ** n).sum(axis=axes) ** (1.0 / n)


# ---- reporting ---------------------------------------------------------------------------------

def effective_parameters(model):
    """(dotted name, tensor) for every parameter as the forward computes with it: a pruned tensor as
    ``orig * mask`` under its own name (``fc.weight``, not ``fc.weight_orig``). A weight a module keeps
    as a buffer named ``weight`` or ``bias`` (as quantized layers do) is listed too. Shared tensors
    appear once. The tensors are detached."""
    seen = set()
    for prefix, module in model.named_modules():
        pruned = _pruned_names(module)
        entries = list(module._parameters.items()) + [(k, v) for k, v in module._buffers.items()
                                                      if k in ("weight", "bias")]
        for local, value in entries:
            if value is None or id(value) in seen:
                continue
            seen.add(id(value))
            if local.endswith("_orig") and local[:-len("_orig")] in pruned:
                local = local[:-len("_orig")]
                with no_grad():
                    value = _masked(module, local)
            yield (f"{prefix}.{local}" if prefix else local), value.detach()


SparsityRow = namedtuple("SparsityRow", ["name", "shape", "elements", "zeros", "pruned"])


@dataclasses.dataclass
class SparsityReport:
    """One ``SparsityRow`` per parameter (``pruned``: masked by this module); ``str()`` is a table."""

    rows: list

    @property
    def sparsity(self):
        """Fraction of zeros over all parameters."""
        return _fraction(self.rows)

    @property
    def pruned_sparsity(self):
        """Fraction of zeros over the pruned tensors only."""
        return _fraction([r for r in self.rows if r.pruned])

    def __str__(self):
        width = max([len(r.name) for r in self.rows] + [len("all parameters")])
        lines = [f"{'parameter':<{width}}  {'shape':<16}{'elements':>10}{'zeros':>10}{'sparsity':>10}"]
        for r in self.rows:
            lines.append(f"{r.name:<{width}}  {str(r.shape):<16}{r.elements:>10,}{r.zeros:>10,}"
                         f"{100 * r.zeros / max(r.elements, 1):>9.1f}%{'  (pruned)' if r.pruned else ''}")
        pruned = [r for r in self.rows if r.pruned]
        for label, rows in (("pruned tensors", pruned), ("all parameters", self.rows)) if pruned \
                else (("all parameters", self.rows),):
            lines.append(f"{label:<{width}}  {'':<16}{sum(r.elements for r in rows):>10,}"
                         f"{sum(r.zeros for r in rows):>10,}{100 * _fraction(rows):>9.1f}%")
        return "\n".join(lines)


def _fraction(rows):
    return sum(r.zeros for r in rows) / max(sum(r.elements for r in rows), 1)


def sparsity_report(model):
    """Per parameter (pruned ones with their mask applied) and in total: elements, zeros, sparsity."""
    pruned = {f"{prefix}.{name}" if prefix else name
              for prefix, module in model.named_modules() for name in _pruned_names(module)}
    rows = [SparsityRow(name, tuple(t.shape), t.numel(), t.numel() - int(t.count_nonzero().item()), name in pruned)
            for name, t in effective_parameters(model)]
    return SparsityReport(rows)


# ---- schedules ---------------------------------------------------------------------------------

def polynomial_schedule(final_sparsity, rounds, initial_sparsity=0.0, power=3):
    """Target sparsities for ``rounds`` prune-fine-tune rounds, rising fast then slowly to
    ``final_sparsity`` (Zhu & Gupta, 2017): ``s_i = s_f + (s_0 - s_f) (1 - i / rounds)^power``,
    i = 1..rounds. Example: ``polynomial_schedule(0.9, 3)`` is about ``[0.63, 0.87, 0.9]``."""
    if rounds < 1 or not 0.0 <= initial_sparsity <= final_sparsity <= 1.0:
        raise ValueError(f"polynomial_schedule: need rounds >= 1 and 0 <= initial_sparsity <= "
                         f"final_sparsity <= 1, got {rounds}, {initial_sparsity}, {final_sparsity}")
    return [final_sparsity + (initial_sparsity - final_sparsity) * (1 - i / rounds) ** power
            for i in range(1, rounds + 1)]


def iterative_prune(parameters, sparsities, fine_tune=None, scope="global"):
    """Prune, fine-tune, repeat: for each target sparsity in ``sparsities`` (fractions of the
    elements of the ``(module, name)`` pairs in ``parameters``, increasing), prune the smallest
    remaining weights until that fraction is masked (``scope="global"``: across all the tensors;
    ``"layer"``: each tensor on its own), then call ``fine_tune(round, sparsity)`` (train a little:
    the masks hold). Returns the list of ``fine_tune``'s results."""
    if scope not in ("global", "layer"):
        raise ValueError(f"iterative_prune: scope must be 'global' or 'layer', got '{scope}'")
    parameters = list(parameters)
    results = []
    for round_index, sparsity in enumerate(sparsities):
        if scope == "global":
            sizes = [_masked_and_total(m, n) for m, n in parameters]
            target = round(sparsity * sum(total for _, total in sizes))
            global_unstructured(parameters, amount=max(target - sum(masked for masked, _ in sizes), 0))
        else:
            for module, name in parameters:
                masked, total = _masked_and_total(module, name)
                l1_unstructured(module, name, amount=max(round(sparsity * total) - masked, 0))
        results.append(fine_tune(round_index, sparsity) if fine_tune is not None else None)
    return results


def _masked_and_total(module, name):
    if name in _pruned_names(module):
        mask = module._buffers[name + "_mask"]
        return mask.numel() - int(mask.count_nonzero().item()), mask.numel()
    return 0, _current(module, name, "iterative_prune").numel()
