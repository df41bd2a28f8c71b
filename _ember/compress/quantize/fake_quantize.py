"""Fake quantization: round a float tensor to its int8 grid and back, in float, so that training sees
the error the int8 model will make (quantization-aware training).

    y = (clamp(round(x / scale) + zero_point, quant_min, quant_max) - zero_point) * scale

Rounding has zero derivative almost everywhere, so the backward is the straight-through estimator,
as PyTorch's ``fake_quantize_per_tensor_affine``: the gradient passes unchanged where
round(x / scale) + zero_point lies in [quant_min, quant_max] and is zero where the value was clamped.
(It is not the derivative of the forward, so no finite-difference check applies; the tests compare
forward and gradient with PyTorch's.)
"""
import numpy as np

from ...engine import Function, Tensor
from ...kernels.quantized import inverse_scale
from ...nn import Module
from .observers import MovingAverageMinMaxObserver

__all__ = ["fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine", "FakeQuantize",
           "enable_fake_quant", "disable_fake_quant", "enable_observer", "disable_observer"]


class FakeQuantizeAffine(Function):
    """Forward: round to the grid and back; backward: the gradient where not clamped (STE).
    ``scale`` and ``zero_point`` are arrays that broadcast against x."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, quant_min, quant_max):
        q = np.rint(x.astype(np.float32, copy=False) * inverse_scale(scale)) + zero_point  # before clamping
        ctx.save_for_backward(((q >= quant_min) & (q <= quant_max)).astype(x.dtype))
        return ((np.clip(q, quant_min, quant_max) - zero_point) * scale).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        inside, = ctx.saved_tensors
        return grad * inside, None, None, None, None


def _as_array(value, dtype):
    return (value.detach().numpy(force=True) if isinstance(value, Tensor) else np.asarray(value)).astype(dtype)


def _check_grid(op, zero_point, quant_min, quant_max):
    if quant_min > quant_max:
        raise ValueError(f"{op}: expected quant_min <= quant_max, got quant_min={quant_min} and "
                         f"quant_max={quant_max}")
    if np.any(zero_point < quant_min) or np.any(zero_point > quant_max):
        raise ValueError(f"{op}: zero_point must lie in [quant_min, quant_max] = [{quant_min}, {quant_max}], "
                         f"got {zero_point}")


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min, quant_max):
    """One grid for the whole tensor: ``scale`` (float > 0) and ``zero_point`` (int), numbers or
    one-element Tensors. Shape: any -> the same."""
    op = "fake_quantize_per_tensor_affine"
    scale, zero_point = _as_array(scale, np.float32), _as_array(zero_point, np.int32)
    if scale.size != 1 or zero_point.size != 1:
        raise ValueError(f"{op}: expected one scale and one zero_point, got shapes {scale.shape} and "
                         f"{zero_point.shape} (per channel: fake_quantize_per_channel_affine)")
    if not scale.reshape(()) > 0:
        raise ValueError(f"{op}: scale must be positive, got {scale.reshape(())}")
    _check_grid(op, zero_point, quant_min, quant_max)
    return FakeQuantizeAffine.apply(input, scale.reshape(()), zero_point.reshape(()), quant_min, quant_max)


def fake_quantize_per_channel_affine(input, scale, zero_point, axis, quant_min, quant_max):
    """One grid per index of dim ``axis``: ``scale`` and ``zero_point`` of shape (input.shape[axis],).
    Shape: any -> the same."""
    op = "fake_quantize_per_channel_affine"
    scale, zero_point = _as_array(scale, np.float32), _as_array(zero_point, np.int32)
    axis = axis + input.ndim if axis < 0 else axis
    if not 0 <= axis < input.ndim:
        raise IndexError(f"{op}: axis {axis} is out of range for an input of {input.ndim} dims")
    channels = input.shape[axis]
    if scale.shape != (channels,) or zero_point.shape != (channels,):
        raise ValueError(f"{op}: expected scale and zero_point of shape ({channels},) for input "
                         f"{tuple(input.shape)} along axis {axis}, got {scale.shape} and {zero_point.shape}")
    if not np.all(scale > 0):
        raise ValueError(f"{op}: every scale must be positive, got {scale}")
    _check_grid(op, zero_point, quant_min, quant_max)
    shape = [1] * input.ndim
    shape[axis] = channels
    return FakeQuantizeAffine.apply(input, scale.reshape(shape), zero_point.reshape(shape), quant_min, quant_max)


class FakeQuantize(Module):
    """Observes what passes through (``observer``, default ``MovingAverageMinMaxObserver()``) and
    fake-quantizes it onto the observer's grid, per tensor or per channel as the observer is. The
    grid in use is in the buffers ``scale`` and ``zero_point``. As PyTorch's, observing and fake
    quantization are switched separately (``enable_observer`` ...), and the observer keeps observing in
    eval mode until disabled. ``fake_quant=False`` makes a pure observer (post-training calibration)."""

    def __init__(self, observer=None, fake_quant=True):
        super().__init__()
        self.activation_post_process = MovingAverageMinMaxObserver() if observer is None else observer
        self.register_buffer("fake_quant_enabled", Tensor(np.array(int(fake_quant), np.uint8)))
        self.register_buffer("observer_enabled", Tensor(np.array(1, np.uint8)))
        shape = self.activation_post_process.min_val.shape  # one grid, or one per channel
        self.register_buffer("scale", Tensor(np.ones(shape, np.float32)))
        self.register_buffer("zero_point", Tensor(np.zeros(shape, np.int32)))

    def forward(self, x):
        if x.device.type != "cpu":  # the grids are NumPy arrays and the buffers cpu tensors
            raise RuntimeError(f"FakeQuantize: quantization runs on the CPU, got an input on {x.device}: move the "
                               f"model and its inputs with .cpu() first")
        observer = self.activation_post_process
        if self.observer_enabled.item():
            observer(x.detach())
            scale, zero_point = observer.calculate_qparams()
            self.scale, self.zero_point = Tensor(scale), Tensor(zero_point)
        if not self.fake_quant_enabled.item():
            return x
        if not observer.calibrated:
            raise RuntimeError("FakeQuantize: its observer is disabled and has never seen data, so there is "
                               "no grid to quantize to; enable the observer for a forward first")
        if observer.ch_axis is None:
            return fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, observer.quant_min,
                                                   observer.quant_max)
        return fake_quantize_per_channel_affine(x, self.scale, self.zero_point, observer.ch_axis,
                                                observer.quant_min, observer.quant_max)

    def extra_repr(self):
        return (f"fake_quant_enabled={bool(self.fake_quant_enabled.item())}, "
                f"observer_enabled={bool(self.observer_enabled.item())}, scale={self.scale.numpy()}, "
                f"zero_point={self.zero_point.numpy()}")


def _switch(buffer, on):
    def apply(module):
        if isinstance(module, FakeQuantize):
            getattr(module, buffer).fill_(int(on))
    return apply


# For model.apply(...), as torch.ao.quantization's functions of these names.
enable_fake_quant = _switch("fake_quant_enabled", True)
disable_fake_quant = _switch("fake_quant_enabled", False)
enable_observer = _switch("observer_enabled", True)
disable_observer = _switch("observer_enabled", False)
