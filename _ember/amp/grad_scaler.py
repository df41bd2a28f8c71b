"""``GradScaler``: dynamic loss scaling for float16 training, as ``torch.amp.GradScaler``.

float16 gradients of small magnitude flush to zero. The scaler multiplies the loss by a large
factor before backward (``scale``), so the gradients are large too, divides them back before the
optimizer uses them (``unscale_``, called by ``step`` if you did not), and skips the step when a
gradient came out inf or NaN: then ``update`` shrinks the scale by ``backoff_factor``; after
``growth_interval`` steps in a row without one it grows it by ``growth_factor``::

    scaler = ember.amp.GradScaler("cpu")
    with ember.autocast("cpu", dtype=ember.float16):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)       # optimizer.step() unless a gradient is inf/NaN
    scaler.update()

The scale is a float32 value kept on the host, with a 0-d float32 copy per device for ``scale``
(so a float16 0-d loss times it is float32, as in PyTorch). An optimizer's inf checks are one
device array per device, read once, by ``step``.
"""
import warnings
from collections import defaultdict
from enum import Enum

import numpy as np

from ..engine import dtypes
from ..engine.creation import full
from ..engine.device import array_module
from ..engine.tensor import Tensor

__all__ = ["GradScaler"]


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state():
    return {"stage": OptState.READY, "found_inf_per_device": {}}


def _float32(value):
    """What storing ``value`` in PyTorch's float32 scale tensor keeps of it."""
    return float(np.float32(value))


class GradScaler:
    """Loss scaling with PyTorch's arguments and semantics; ``enabled=False`` makes every method
    pass through (``scale`` returns its input, ``step`` just steps)."""

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled:
            from ..engine import cuda
            if not cuda.is_available():
                warnings.warn("ember.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                              stacklevel=2)
                self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale = None  # set by the first scale(): unscale_, step and update need it
            self._scale_on = {}  # device -> 0-d float32 Tensor holding _scale
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._growth_tracker = 0
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def _check_scale(self, funcname):
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  This may indicate your script "
                                 f"did not use scaler.scale(loss or outputs) earlier in the iteration.")

    def _set_scale(self, value):
        self._scale = _float32(value)
        self._scale_on.clear()

    def _scale_tensor(self, device):
        tensor = self._scale_on.get(device)
        if tensor is None:
            tensor = self._scale_on[device] = full((), self._scale, dtype=dtypes.float32, device=device)
        return tensor

    def scale(self, outputs):
        """``outputs`` (a tensor, or a list/tuple/iterable of them, nested) times the scale."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._set_scale(self._init_scale)

        def apply_scale(value):
            if isinstance(value, Tensor):
                return value * self._scale_tensor(value.device)
            if isinstance(value, (list, tuple)):
                return type(value)(apply_scale(v) for v in value)
            if hasattr(value, "__iter__"):
                return map(apply_scale, value)
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")
        return apply_scale(outputs)

    def _unscale_grads_(self, optimizer, inv_scale):
        """Multiply every gradient by ``inv_scale`` in place; per device, whether one of them
        held an inf or NaN before (a device bool array, read later)."""
        found_inf = {}
        for group in optimizer.param_groups:
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                if grad._data.dtype == np.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                data = grad._data
                xp = array_module(data)
                nonfinite = ~xp.isfinite(data).all()
                device = grad.device
                found_inf[device] = nonfinite if device not in found_inf else found_inf[device] | nonfinite
                data *= inv_scale
                grad._version[0] += 1
        return found_inf

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale now (to clip them, say), once per step."""
        if not self._enabled:
            return
        self._check_scale("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last "
                               "update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = _float32(1.0 / self._scale)  # PyTorch: the reciprocal in double, stored as float
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """Unscale (if not done yet) and run ``optimizer.step(*args, **kwargs)`` unless a gradient
        is inf/NaN. Returns what ``optimizer.step`` returned, or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if not state["found_inf_per_device"]:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        result = None
        if not any(bool(found) for found in state["found_inf_per_device"].values()):
            result = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return result

    def update(self, new_scale=None):
        """Set the scale for the next iteration: ``new_scale`` if given, else backed off when a
        step of this iteration saw an inf/NaN, grown after ``growth_interval`` clean ones."""
        if not self._enabled:
            return
        self._check_scale("update")
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                reason = ("new_scale should be a float or a 1-element ember Tensor with "
                          "requires_grad=False.")
                if new_scale.device.type != self._device or new_scale.numel() != 1 or new_scale.requires_grad:
                    raise AssertionError(reason)
                new_scale = new_scale.item()
            self._set_scale(new_scale)
        else:
            found_infs = [found for state in self._per_optimizer_states.values()
                          for found in state["found_inf_per_device"].values()]
            if not found_infs:
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(bool(found) for found in found_infs):
                self._set_scale(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            elif self._growth_tracker + 1 == self._growth_interval:
                grown = _float32(self._scale * self._growth_factor)
                if np.isfinite(grown):  # never grow past float32's range
                    self._set_scale(grown)
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def get_scale(self):
        """The current scale (``init_scale`` before the first ``scale``); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        """The scale and the growth settings and progress; empty when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a "
                               "disabled instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._set_scale(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._growth_tracker = state_dict["_growth_tracker"]
