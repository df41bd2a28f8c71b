"""Observers watch the tensors that pass through them and choose the quantization grid: a scale and
a zero point, so that x ~ scale * (q - zero_point) for integers q in [quant_min, quant_max].

- Activations: per tensor, affine int8 (q in [-128, 127], any zero point). A layer's input after a
  ReLU is never negative; a symmetric grid would spend half its 256 levels on values that never
  occur. The zero point costs nothing at run time (the int8 kernels fold it into their int16
  operand, kernels/quantized.py).
- Weights: per output channel, symmetric (zero point 0, q in [-127, 127]). One scale per channel
  follows each filter's own range; a symmetric grid keeps w and -w alike, and without the level
  -128 the grid is the same on both sides.

``MinMaxObserver`` (the extremes seen), ``MovingAverageMinMaxObserver`` (QAT's default: a moving
average of each batch's extremes) and ``PercentileObserver`` (ignores the rarest outliers) observe
activations; ``PerChannelMinMaxObserver`` observes weights.
"""
import numpy as np

from ...engine import Tensor
from ...nn import Module

__all__ = ["Observer", "MinMaxObserver", "MovingAverageMinMaxObserver", "PercentileObserver",
           "PerChannelMinMaxObserver", "affine_qparams", "symmetric_qparams"]

_EPS = np.finfo(np.float32).eps


def affine_qparams(min_val, max_val, quant_min=-128, quant_max=127):
    """(scale, zero_point) that map [min(min_val, 0), max(max_val, 0)] onto [quant_min, quant_max]:
    the range always holds 0, so zero (padding, a ReLU's output) is exactly representable. As PyTorch's
    per_tensor_affine: scale = (max - min) / (quant_max - quant_min), zero_point = quant_min - round(min / scale)."""
    low, high = np.minimum(min_val, 0).astype(np.float32), np.maximum(max_val, 0).astype(np.float32)
    scale = np.maximum((high - low) / np.float32(quant_max - quant_min), _EPS).astype(np.float32)
    zero_point = np.clip(quant_min - np.rint(low / scale), quant_min, quant_max).astype(np.int32)
    return scale, zero_point


def symmetric_qparams(min_val, max_val, quant_max=127):
    """(scale, zero_point = 0) with scale = max(|min|, |max|) / quant_max."""
    bound = np.maximum(-np.asarray(min_val, np.float32), np.asarray(max_val, np.float32))
    scale = np.maximum(bound / np.float32(quant_max), _EPS).astype(np.float32)
    return scale, np.zeros(scale.shape, np.int32)


class Observer(Module):
    """Records the range of what passes through ``forward`` (returned unchanged) in the buffers
    ``min_val`` and ``max_val`` (+inf and -inf until it has seen data); ``calculate_qparams()`` is the
    grid for that range. The buffer ``observed`` (0 or 1, saved with the state_dict) says whether it
    has seen data. A batch holding NaN or inf raises: it has no finite range, and folding it in would
    spoil the range for good. ``ch_axis``: None for one range per tensor, else the channel dim."""

    quant_min, quant_max, symmetric, ch_axis = -128, 127, False, None

    def __init__(self, shape=()):
        super().__init__()
        self.register_buffer("min_val", Tensor(np.full(shape, np.inf, np.float32)))
        self.register_buffer("max_val", Tensor(np.full(shape, -np.inf, np.float32)))
        self.register_buffer("observed", Tensor(np.array(0, np.uint8)))

    def forward(self, x):
        self._observe(self._checked(x.detach().numpy(force=True)))
        self.observed.fill_(1)
        return x

    @property
    def calibrated(self):
        """Has it seen data?"""
        return bool(self.observed.item())

    def calculate_qparams(self):
        """(scale, zero_point) as NumPy float32 and int32 arrays, shaped () or (channels,)."""
        if not self.calibrated:
            raise RuntimeError(f"{type(self).__name__}: no data observed yet, so no range to quantize to; "
                               f"pass sample batches through the model first")
        low, high = self._range()
        if self.symmetric:
            return symmetric_qparams(low, high, self.quant_max)
        return affine_qparams(low, high, self.quant_min, self.quant_max)

    def _range(self):
        return self.min_val.numpy(), self.max_val.numpy()

    def _set_range(self, low, high):
        self.min_val = Tensor(np.asarray(low, np.float32))
        self.max_val = Tensor(np.asarray(high, np.float32))

    def _checked(self, array):
        name = type(self).__name__
        if array.size == 0:
            raise ValueError(f"{name}: can't observe an empty tensor of shape {array.shape}")
        finite = np.isfinite(array)
        if not finite.all():
            raise ValueError(f"{name}: the batch of shape {array.shape} holds NaN or inf "
                             f"({array.size - int(finite.sum())} of {array.size} values), so it has no finite "
                             f"range to observe; check the data and the model's outputs (a diverged training)")
        return array

    def _batch_range(self, array):
        if self.ch_axis is None:
            return array.min(), array.max()
        per_channel = np.moveaxis(array, self.ch_axis, 0).reshape(array.shape[self.ch_axis], -1)
        return per_channel.min(1), per_channel.max(1)

    def extra_repr(self):
        return f"min_val={self.min_val.numpy()}, max_val={self.max_val.numpy()}"


class MinMaxObserver(Observer):
    """The extremes of everything observed (PTQ's default: calibration batches are few)."""

    def _observe(self, array):
        low, high = self._batch_range(array)
        self._set_range(np.minimum(self.min_val.numpy(), low), np.maximum(self.max_val.numpy(), high))


class MovingAverageMinMaxObserver(Observer):
    """min += c * (batch min - min), max likewise, from the first batch's extremes (QAT's default:
    early batches of a model still changing count less)."""

    def __init__(self, averaging_constant=0.01):
        super().__init__()
        if not 0 < averaging_constant <= 1:
            raise ValueError(f"MovingAverageMinMaxObserver: averaging_constant must be in (0, 1], got "
                             f"{averaging_constant}")
        self.averaging_constant = averaging_constant

    def _observe(self, array):
        low, high = self._batch_range(array)
        if not self.calibrated:
            self._set_range(low, high)
            return
        c = np.float32(self.averaging_constant)
        old_low, old_high = self._range()
        self._set_range(old_low + c * (low - old_low), old_high + c * (high - old_high))


class PercentileObserver(Observer):
    """The ``100 - percentile`` and ``percentile`` percentiles of the values observed: a few outliers
    no longer stretch the grid for everything else (they are clamped). Each batch gives an evenly
    strided sample of at most ``samples_per_batch`` of its values; the percentiles are those of a pool
    of at most ``max_samples`` of these sampled values, a uniform random sample of all of them
    (reservoir sampling, seeded, so a calibration is repeatable): memory and the time per batch stay
    bounded however many batches pass. Until ``max_samples`` values have been sampled the pool holds
    them all. The pool is not saved with the state_dict; ``min_val`` and ``max_val`` hold its percentiles."""

    def __init__(self, percentile=99.99, samples_per_batch=1 << 16, max_samples=1 << 20, seed=0):
        super().__init__()
        if not 50 < percentile <= 100:
            raise ValueError(f"PercentileObserver: percentile must be in (50, 100], got {percentile}")
        if not 1 <= samples_per_batch <= max_samples:
            raise ValueError(f"PercentileObserver: expected 1 <= samples_per_batch <= max_samples, got "
                             f"samples_per_batch={samples_per_batch} and max_samples={max_samples}")
        self.percentile = percentile
        self.samples_per_batch, self.max_samples = samples_per_batch, max_samples
        self._pool = np.empty(0, np.float32)
        self._sampled = 0  # values sampled from the batches so far, pooled or not
        self._rng = np.random.default_rng(seed)

    def _observe(self, array):
        flat = array.reshape(-1)  # a stride of ceil(size / samples_per_batch) keeps at most samples_per_batch
        self._add_to_pool(flat[::-(-flat.size // self.samples_per_batch)].astype(np.float32))
        self._set_range(*np.percentile(self._pool, [100 - self.percentile, self.percentile]))

    def _add_to_pool(self, values):
        """Algorithm R, vectorized: the value sampled as number j (from 0) takes a random slot among
        j + 1 and stays if that slot is in the pool; of the values drawing one slot the last wins, as in
        the sequential algorithm."""
        room = self.max_samples - self._pool.size
        self._pool = np.concatenate([self._pool, values[:room]])
        rest = values[room:]
        first = self._sampled + min(room, values.size)
        self._sampled += values.size
        if rest.size == 0:
            return
        slots = self._rng.integers(0, np.arange(first, first + rest.size) + 1)
        kept = np.flatnonzero(slots < self.max_samples)
        _, last = np.unique(slots[kept][::-1], return_index=True)
        kept = kept[kept.size - 1 - last]
        self._pool[slots[kept]] = rest[kept]


class PerChannelMinMaxObserver(Observer):
    """One symmetric range per channel along ``ch_axis`` (0: a weight's output channels), from the
    latest tensor observed: weights change while training, and their grid follows them. Given the
    number of ``channels``, its buffers have their final shape from the start (so a state_dict saved
    after training loads into a freshly prepared model)."""

    quant_min, quant_max, symmetric = -127, 127, True

    def __init__(self, ch_axis=0, channels=None):
        super().__init__(() if channels is None else (channels,))
        self.ch_axis = ch_axis

    def _observe(self, array):
        self._set_range(*self._batch_range(array))
