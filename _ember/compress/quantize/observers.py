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
    grid for that range. ``ch_axis``: None for one range per tensor, else the channel dim."""

    quant_min, quant_max, symmetric, ch_axis = -128, 127, False, None

    def __init__(self, shape=()):
        super().__init__()
        self.register_buffer("min_val", Tensor(np.full(shape, np.inf, np.float32)))
        self.register_buffer("max_val", Tensor(np.full(shape, -np.inf, np.float32)))

    def forward(self, x):
        self._observe(x.detach().numpy(force=True))
        return x

    @property
    def calibrated(self):
        """Has it seen data?"""
        return bool(np.all(np.isfinite(self.min_val.numpy())))

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

    def _batch_range(self, array):
        if array.size == 0:
            raise ValueError(f"{type(self).__name__}: can't observe an empty tensor of shape {array.shape}")
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
    no longer stretch the grid for everything else (they are clamped). Keeps an evenly strided sample
    of at most ``samples_per_batch`` values of each batch (not saved with the state_dict); ``min_val`` and
    ``max_val`` hold the percentiles of the sample so far."""

    def __init__(self, percentile=99.99, samples_per_batch=1 << 16):
        super().__init__()
        if not 50 < percentile <= 100:
            raise ValueError(f"PercentileObserver: percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile
        self.samples_per_batch = samples_per_batch
        self._samples = []

    def _observe(self, array):
        if array.size == 0:
            raise ValueError(f"PercentileObserver: can't observe an empty tensor of shape {array.shape}")
        flat = array.reshape(-1)
        self._samples.append(flat[::max(1, flat.size // self.samples_per_batch)].astype(np.float32))
        values = np.concatenate(self._samples)
        self._set_range(*np.percentile(values, [100 - self.percentile, self.percentile]))


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
