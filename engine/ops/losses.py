"""Loss functions (``torch.nn.functional``'s cross_entropy, nll_loss, mse_loss...), with PyTorch's
semantics: the same arguments (legacy ``size_average``/``reduce`` included), reductions, weights
and error messages.

Most losses are compositions of differentiable ops, so their gradients (and the gradients of those)
come for free. ``binary_cross_entropy`` has its own Function, for PyTorch's clamped logs and
gradient. The class-index losses pick each position's log-probability of its target class with
``PickClass``, whose gradient is the matching scatter ``PlaceClass``, whose gradient is the pick
again: double backward works through cross_entropy.
"""
import warnings

import numpy as np

from ..cuda_graphs import is_current_stream_capturing
from ..device import array_module
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from .activations import logsigmoid
from .elementwise import clamp, log, log1p, where
from .nn_ops import kernel_for, log_softmax
from .operands import broadcast_error, promote

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]

_REDUCTIONS = ("none", "mean", "sum")
_BCE_EPSILON = 1e-12  # PyTorch's floor on x (1 - x) in binary_cross_entropy's gradient


# ---- reductions and argument checks -------------------------------------------------------------

def _reduction(op, size_average, reduce, reduction, allowed=_REDUCTIONS):
    """The reduction to apply, from ``reduction`` or the legacy flags (which win, with PyTorch's
    deprecation warning): reduce=False -> 'none', size_average=False -> 'sum', else 'mean'."""
    if size_average is not None or reduce is not None:
        reduction = "none" if reduce is False else "sum" if size_average is False else "mean"
        warnings.warn(f"{op}: size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", stacklevel=3)
    if reduction not in allowed:
        raise ValueError(f"{op}: {reduction} is not a valid value for reduction (expected one of "
                         f"{', '.join(allowed)})")
    return reduction


def _reduce(loss, reduction, total=None):
    """'none': the elementwise loss; 'sum': its sum; 'mean': its sum over ``total`` (default: the
    element count)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if total is None:
        return loss.mean()
    # nothing to average over (all ignored, or empty): the mean is 0/0 = NaN, but no element
    # gets a NaN gradient, as in PyTorch
    return loss.sum() / total if total else loss.sum() + float("nan")


def _shapes(**tensors):
    return "(" + ", ".join(f"{name} {tuple(t.shape)}" for name, t in tensors.items() if t is not None) + ")"


class _LazyShapes:
    def __init__(self, **tensors):
        self.tensors = tensors

    def __str__(self):
        return _shapes(**self.tensors)


def _check_broadcasts_to(op, name, tensor, shape, **context):
    """``tensor`` (a weight) must broadcast to the loss's ``shape`` without enlarging it."""
    try:
        fits = np.broadcast_shapes(tuple(tensor.shape), tuple(shape)) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: {name} of shape {tuple(tensor.shape)} does not broadcast to the "
                           f"loss shape {tuple(shape)} {_shapes(**context)}")


def _pointwise_pair(op, input, target):
    """PyTorch warns when the target's shape differs from the input's (they broadcast, likely by
    mistake); shapes that do not broadcast raise."""
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise broadcast_error(op, input.shape, target.shape) from None
        warnings.warn(f"{op}: Using a target size ({target.shape}) that is different to the input "
                      f"size ({input.shape}). This will likely lead to incorrect results due to "
                      f"broadcasting. Please ensure they have the same size.", stacklevel=3)
    return input - target


def _weighted(op, loss, input, weight, reduction, mean_over_weight):
    """The elementwise ``loss`` times ``weight`` (same shape as input), reduced; 'mean' divides by
    the sum of the weights (``mean_over_weight``, mse/l1) or the element count (huber)."""
    if weight is None:
        return _reduce(loss, reduction)
    if weight.shape != input.shape:
        raise ValueError(f"{op}: Weights and input must have the same size "
                         f"{_shapes(weight=weight, input=input)}.")
    loss = loss * weight
    if reduction == "mean" and mean_over_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


# ---- class-index losses: nll_loss, cross_entropy -------------------------------------------------

class PickClass(Function):
    """``out[n, d...] = x[n, target[n, d...], d...]``: each position's value at its target class."""

    @staticmethod
    def forward(ctx, x, target):
        ctx.target, ctx.classes = target, x.shape[1]
        return array_module(x).take_along_axis(x, target[:, None], axis=1)[:, 0]

    @staticmethod
    def backward(ctx, grad):
        return PlaceClass.apply(grad, ctx.target, ctx.classes), None


class PlaceClass(Function):
    """The adjoint of ``PickClass``: zeros of shape (N, C, d...) holding ``values`` at the target
    classes."""

    @staticmethod
    def forward(ctx, values, target, classes):
        ctx.target = target
        xp = array_module(values)
        out = xp.zeros((values.shape[0], classes) + values.shape[1:], dtype=values.dtype)
        xp.put_along_axis(out, target[:, None], values[:, None], axis=1)
        return out

    @staticmethod
    def backward(ctx, grad):
        return PickClass.apply(grad, ctx.target), None, None


def _batched(op, input, target):
    """Check a class-index target against input (C,), (N, C) or (N, C, d1, ...); return both in
    the batched layout (N, C, d...) and (N, d...)."""
    shapes = _LazyShapes(input=input, target=target)  # formatted only when an error needs it
    if input.ndim == 0:
        raise ValueError(f"{op}: Expected 1 or more dimensions (got 0) {shapes}")
    if target._data.dtype not in (np.int64, np.uint8):
        raise RuntimeError(f"{op}: expected target dtype to be Long or Byte, but got {target.dtype} "
                           f"{shapes}")
    if input.ndim == 1:
        if target.numel() != 1 or target.ndim > 1:
            raise RuntimeError(f"{op}: an unbatched input of shape (C,) takes a 0-d target {shapes}")
        return input.reshape(1, -1), target.reshape(1)
    if target.ndim and target.shape[0] != input.shape[0]:
        raise ValueError(f"{op}: Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({target.shape[0]}). {shapes}")
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        if input.ndim == 2 and target.ndim > 1:
            raise RuntimeError(f"{op}: 0D or 1D target tensor expected, multi-target not supported {shapes}")
        raise RuntimeError(f"{op}: Expected target size {list(expected)}, got {list(target.shape)} {shapes}")
    return input, target


def _class_weights(op, weight, classes, dtype):
    """The per-class weights as a constant array (PyTorch does not differentiate them either)."""
    if weight is None:
        return None
    if weight.ndim != 1 or weight.shape[0] != classes:
        raise RuntimeError(f"{op}: weight tensor should be defined either for all {classes} classes "
                           f"or no classes but got weight tensor of shape: {list(weight.shape)}")
    return weight._data.astype(dtype, copy=False)


def _checked_targets(op, t, classes, ignore_index, input, target):
    """Class indices as int64, with ignored positions reading class 0 (their weight is 0); an index
    outside [0, classes) raises, as in PyTorch."""
    xp = array_module(t._data)
    safe = xp.where(t._data != ignore_index, t._data, 0).astype(np.int64)
    if is_current_stream_capturing():  # the check reads the targets on the host; the kernel's loss is NaN instead
        return safe
    out_of_range = (safe < 0) | (safe >= classes)
    if out_of_range.any():
        raise IndexError(f"{op}: Target {int(safe[out_of_range].ravel()[0])} is out of bounds. "
                         f"({classes} classes) {_shapes(input=input, target=target)}")
    return safe


class CrossEntropy(Function):
    """Fused cross entropy of logits (N, C) against class indices (N,): one kernel forward (each
    row's loss, and the softmax the backward scales into the gradient without another exp) and one
    backward, instead of log_softmax, a pick, a product and a reduction. Rows whose target is
    ``ignore_index`` add nothing; ``row_weights`` (N,) (the class weight of each row's target, 0
    where ignored; None: 1) scales each row, and 'mean' divides by ``total`` (the sum of the row
    weights)."""

    @staticmethod
    def forward(ctx, x, target, ignore_index, row_weights, total, reduction):
        loss, probabilities = kernel_for("cross_entropy_forward", x)(x, target, ignore_index)
        if row_weights is not None:
            loss *= row_weights
        ctx.target, ctx.probabilities, ctx.ignore_index = target, probabilities, ignore_index
        ctx.row_weights, ctx.total, ctx.reduction = row_weights, total, reduction
        ctx.save_for_backward(x)
        if reduction == "none":
            return loss
        if reduction == "sum":
            return loss.sum()
        with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: 0/0 = NaN, as PyTorch
            return loss.sum() / total

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        divisor = _divisor(ctx.total) if ctx.reduction == "mean" else 1
        if is_grad_enabled():  # create_graph: Tensor ops, so this gradient is differentiable too
            kept = ctx.target != ctx.ignore_index
            row_weights = kept.astype(x._data.dtype) if ctx.row_weights is None else ctx.row_weights
            xp = array_module(x._data)
            onehot = xp.zeros(x.shape, x._data.dtype)
            xp.put_along_axis(onehot, xp.where(kept, ctx.target, 0)[:, None], 1, axis=1)
            # d loss_n / d x_n = softmax(x_n) - onehot(target_n), scaled by the row's weight
            row_grad = (grad / _as_operand(divisor) * Tensor(row_weights)).reshape(-1, 1)
            return (x.softmax(1) - Tensor(onehot)) * row_grad, None, None, None, None, None
        row_grad = array_module(grad._data).asarray(grad._data / divisor)  # NumPy: 0-d / number is a scalar
        if ctx.row_weights is not None:
            row_grad = row_grad * ctx.row_weights
        grad_x = kernel_for("cross_entropy_backward", x._data)(ctx.probabilities, ctx.target, row_grad,
                                                               ctx.ignore_index)
        return Tensor(grad_x), None, None, None, None, None


def _divisor(total):
    """What the 'mean' gradient divides by: ``total``, or 1 where it is 0 (all rows ignored, or all
    weights 0: no row has a gradient then anyway). A device array stays one (a CUDA-graph capture
    keeps the count on the GPU)."""
    if isinstance(total, (int, float)):
        return total or 1
    return array_module(total).where(total == 0, total.dtype.type(1), total)


def _as_operand(value):
    """A number as it is, a device array (a count kept on the GPU in a capture) as a Tensor."""
    return value if isinstance(value, (int, float)) else Tensor(value)


def _kept_count(t, classes, ignore_index, input, target, dtype):
    """How many of the class indices ``t`` are not ``ignore_index``; an index outside
    [0, classes) raises, as in PyTorch. The usual batch (all in range) costs two reductions. While a
    CUDA graph is captured, the count stays on the device (a 0-d array of ``dtype``) and nothing is
    checked (a target out of range gives a NaN loss): both would read the targets on the host."""
    data = t._data
    if data.size == 0:
        return 0
    if is_current_stream_capturing():
        return (data != ignore_index).sum().astype(dtype)
    low, high = data.min(), data.max()
    if 0 <= low and high < classes:
        return data.size - (int((data == ignore_index).sum()) if low <= ignore_index <= high else 0)
    _checked_targets("cross_entropy", t, classes, ignore_index, input, target)
    return int((data != ignore_index).sum())


def _fused_cross_entropy(input, target, weight, ignore_index, reduction):
    """cross_entropy of logits (N, C) against class indices (N,) without label smoothing, through
    the ``CrossEntropy`` Function."""
    x, t = _batched("cross_entropy", input, target)
    classes = x.shape[1]
    indices = t._data.astype(np.int64, copy=False)
    if weight is None:
        row_weights, total = None, _kept_count(t, classes, ignore_index, input, target, x._data.dtype)
    else:
        class_weights = _class_weights("cross_entropy", weight, classes, x._data.dtype)
        safe = _checked_targets("cross_entropy", t, classes, ignore_index, input, target)
        row_weights = class_weights[safe] * (indices != ignore_index)
        total = row_weights.sum() if is_current_stream_capturing() else float(row_weights.sum())
    return CrossEntropy.apply(x, indices, ignore_index, row_weights, total, reduction)


def _class_index_loss(op, log_probs, target, weight, ignore_index, reduction, label_smoothing=0.0):
    """``-weight[t] * log_probs[t]`` at each position (0 where ``t == ignore_index``), blended
    with the smoothing term when ``label_smoothing > 0``; 'mean' divides by the total weight of
    the positions not ignored."""
    x, t = _batched(op, log_probs, target)
    classes = x.shape[1]
    class_weights = _class_weights(op, weight, classes, x._data.dtype)
    xp = array_module(t._data)
    kept = t._data != ignore_index
    safe = _checked_targets(op, t, classes, ignore_index, log_probs, target)
    position_weights = (class_weights[safe] if class_weights is not None else
                        xp.ones(safe.shape, x._data.dtype)) * kept
    loss = PickClass.apply(x, safe) * Tensor(-position_weights)
    if label_smoothing > 0:
        # PyTorch blends (1 - eps) * nll with eps/C * (-sum_c w_c log p_c), the loss against
        # uniform labels; both vanish at ignored positions and share mean's denominator
        weighted = x if class_weights is None else \
            x * Tensor(class_weights.reshape((classes,) + (1,) * (x.ndim - 2)))
        uniform = weighted.sum(1) * Tensor(-kept.astype(x._data.dtype))
        loss = loss * (1 - label_smoothing) + uniform * (label_smoothing / classes)
    return _reduce(loss.reshape(target.shape), reduction, float(position_weights.sum()))


def _class_probability_loss(log_probs, target, weight, reduction, label_smoothing):
    """``-sum_c weight_c target_c log_probs_c`` at each position; 'mean' divides by the number of
    positions."""
    shapes = _shapes(input=log_probs, target=target)
    if target._data.dtype.kind != "f":
        raise RuntimeError(f"cross_entropy: Expected floating point type for target with class "
                           f"probabilities, got {target.dtype} {shapes}")
    class_dim = 0 if log_probs.ndim == 1 else 1
    classes = log_probs.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    terms = log_probs * target
    if weight is not None:
        if weight.ndim != 1 or weight.shape[0] != classes:
            raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all "
                               f"{classes} classes or no classes but got weight tensor of shape: "
                               f"{list(weight.shape)}")
        terms = terms * weight.reshape((classes,) + (1,) * (log_probs.ndim - class_dim - 1))
    positions = log_probs.numel() // classes if classes else 0
    return _reduce(-terms.sum(class_dim), reduction, float(positions))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """The negative log likelihood of the target classes: ``-weight[t] * input[n, t]`` per
    position, skipping ``ignore_index``; 'mean' divides by the summed weights of the positions kept.
    Shapes: input (C,), (N, C) or (N, C, d1, ...) of log-probabilities; target (), (N,) or
    (N, d1, ...) of class indices (int64 or uint8); weight (C,) -> () or, with 'none', target's."""
    reduction = _reduction("nll_loss", size_average, reduce, reduction)
    return _class_index_loss("nll_loss", input, target, weight, ignore_index, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross entropy of the logits ``input`` against class indices (``nll_loss`` of
    ``log_softmax(input)``) or against class probabilities (a target shaped like the input).
    ``label_smoothing`` eps mixes the target with the uniform distribution: (1 - eps) target +
    eps / C. Shapes: input (C,), (N, C) or (N, C, d1, ...); target of indices (), (N,) or
    (N, d1, ...), or of probabilities like input; weight (C,) -> () or, with 'none', the
    per-position loss."""
    reduction = _reduction("cross_entropy", size_average, reduce, reduction)
    if input.ndim == 0:
        raise ValueError(f"cross_entropy: Expected 1 or more dimensions (got 0) "
                         f"{_shapes(input=input, target=target)}")
    if label_smoothing > 1.0:
        raise RuntimeError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    if input.ndim == 2 and label_smoothing == 0 and target.shape != input.shape:
        return _fused_cross_entropy(input, target, weight, ignore_index, reduction)
    log_probs = log_softmax(input, 0 if input.ndim == 1 else 1)
    if target.shape == input.shape:
        return _class_probability_loss(log_probs, target, weight, reduction, label_smoothing)
    return _class_index_loss("cross_entropy", log_probs, target, weight, ignore_index, reduction,
                             label_smoothing)


# ---- regression losses ---------------------------------------------------------------------------

def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """``(input - target)^2``, reduced; with ``weight`` (input's shape) 'mean' is the weighted
    mean. Shapes: input (*), target broadcastable to it (PyTorch warns if it differs) -> () or (*)."""
    reduction = _reduction("mse_loss", size_average, reduce, reduction)
    diff = _pointwise_pair("mse_loss", input, target)
    return _weighted("mse_loss", diff * diff, input, weight, reduction, mean_over_weight=True)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """``|input - target|``, reduced; with ``weight`` (input's shape) 'mean' is the weighted mean.
    Shapes: like ``mse_loss``."""
    reduction = _reduction("l1_loss", size_average, reduce, reduction)
    diff = _pointwise_pair("l1_loss", input, target)
    return _weighted("l1_loss", diff.abs(), input, weight, reduction, mean_over_weight=True)


def _huber(diff, delta):
    # quadratic inside |d| < delta, linear outside, meeting with equal slope
    distance = diff.abs()
    return where(distance < delta, 0.5 * diff * diff, delta * (distance - 0.5 * delta))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, d = input - target;
    with ``weight``, 'mean' is the plain mean of the weighted loss (as PyTorch). Shapes: like
    ``mse_loss``."""
    reduction = _reduction("huber_loss", None, None, reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got {delta}).")
    diff = _pointwise_pair("huber_loss", input, target)
    return _weighted("huber_loss", _huber(diff, delta), input, weight, reduction, mean_over_weight=False)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``huber_loss / beta``);
    ``beta=0`` is ``l1_loss``. Shapes: like ``mse_loss``."""
    reduction = _reduction("smooth_l1_loss", size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got {beta}).")
    diff = _pointwise_pair("smooth_l1_loss", input, target)
    return _reduce(diff.abs() if beta == 0 else _huber(diff, beta) / beta, reduction)


# ---- binary cross entropy ------------------------------------------------------------------------

class BinaryCrossEntropy(Function):
    """``-(t log x + (1 - t) log(1 - x))`` elementwise, each log clamped at -100 as in PyTorch, so
    x = 0 or 1 gives a finite loss."""

    @staticmethod
    def forward(ctx, x, t):
        xp = array_module(x)
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped right away
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        ctx.save_for_backward(x, t)
        return (t - 1) * log_1mx - t * log_x

    @staticmethod
    def backward(ctx, grad):
        x, t = ctx.saved_tensors
        # d/dx = (x - t) / (x (1 - x)), its denominator floored as PyTorch; d/dt = -logit(x)
        grad_x = grad * (x - t) / clamp(x * (1 - x), min=_BCE_EPSILON) if ctx.needs_input_grad[0] else None
        grad_t = grad * (log1p(-x) - log(x)) if ctx.needs_input_grad[1] else None
        return grad_x, grad_t


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``-weight (t log x + (1 - t) log(1 - x))`` for probabilities x in [0, 1], logs clamped at
    -100. Shapes: input (*), target (*) (the same), weight broadcastable to (*) -> () or (*)."""
    reduction = _reduction("binary_cross_entropy", size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"binary_cross_entropy: Using a target size ({target.shape}) that is different "
                         f"to the input size ({input.shape}) is deprecated. Please ensure they have "
                         f"the same size.")
    input, target = promote("binary_cross_entropy", input, target)
    data = input._data
    if not ((data >= 0) & (data <= 1)).all():
        raise RuntimeError(f"binary_cross_entropy: all elements of input should be between 0 and 1 "
                           f"{_shapes(input=input)}")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        _check_broadcasts_to("binary_cross_entropy", "weight", weight, input.shape, input=input)
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """``binary_cross_entropy(sigmoid(input), target)`` computed stably from the logits, with
    ``pos_weight`` p scaling the positive term: ``-(p t log s(x) + (1 - t) log(1 - s(x)))``.
    Shapes: input (*), target (*) (the same), weight and pos_weight broadcastable to (*) (pos_weight
    usually (C,), one per class in the last dim) -> () or (*)."""
    op = "binary_cross_entropy_with_logits"
    reduction = _reduction(op, size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"{op}: Target size ({target.shape}) must be the same as input size ({input.shape})")
    # log(1 - s(x)) = log s(x) - x, so the loss is (1 - t) x - (1 + (p - 1) t) log s(x)
    log_sigmoid = logsigmoid(input)
    if pos_weight is not None:
        _check_broadcasts_to(op, "pos_weight", pos_weight, input.shape, input=input)
        log_sigmoid = log_sigmoid * (1 + (pos_weight - 1) * target)
    loss = (1 - target) * input - log_sigmoid
    if weight is not None:
        _check_broadcasts_to(op, "weight", weight, input.shape, input=input)
        loss = loss * weight
    return _reduce(loss, reduction)


# ---- KL divergence -------------------------------------------------------------------------------

def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """The KL divergence of the log-probabilities ``input`` from ``target`` (probabilities, or
    log-probabilities with ``log_target``): ``target (log target - input)`` elementwise, with
    ``0 log 0 = 0``. 'batchmean' divides the sum by the batch size (the KL divergence of math);
    'mean' by the element count (PyTorch warns about it). Shapes: input (*), target broadcastable
    -> () or (*)."""
    legacy = size_average is not None or reduce is not None
    reduction = _reduction("kl_div", size_average, reduce, reduction, allowed=_REDUCTIONS + ("batchmean",))
    if reduction == "mean" and not legacy:
        warnings.warn("kl_div: reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size. 'batchmean' divides only by the batch size, and aligns with the KL "
                      "div math definition.", stacklevel=2)
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
    except ValueError:
        raise broadcast_error("kl_div", input.shape, target.shape) from None
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(t, t): 0 where t == 0 (log reads 1 there), NaN for negative t as PyTorch
        with np.errstate(invalid="ignore"):
            loss = target * log(where(target == 0, 1.0, target)) - target * input
    if reduction == "batchmean":
        return _reduce(loss, "mean", float(input.shape[0]) if input.ndim else 1.0)
    return _reduce(loss, reduction)
