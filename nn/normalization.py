"""Normalization layers: ``BatchNorm1d/2d/3d``, ``InstanceNorm1d/2d/3d``, ``LayerNorm``,
``GroupNorm``, ``RMSNorm``, ``LocalResponseNorm``, with PyTorch's parameters, buffers and defaults."""
import numbers
import warnings

from ..engine import empty, ones, tensor, zeros
from ..engine.dtypes import int64
from ..engine.ops import batch_norm, group_norm, instance_norm, layer_norm, local_response_norm, rms_norm
from . import init
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
           "InstanceNorm3d", "LayerNorm", "GroupNorm", "RMSNorm", "LocalResponseNorm"]


def _affine_parameters(module, shape, affine, bias, device, dtype):
    """``weight`` (and ``bias`` if asked) of ``shape`` when ``affine``, else both registered as None."""
    module.register_parameter("weight", Parameter(empty(*shape, dtype=dtype, device=device)) if affine else None)
    module.register_parameter("bias", Parameter(empty(*shape, dtype=dtype, device=device))
                              if affine and bias else None)


def _reset_affine(module):
    """weight = 1, bias = 0: the layer starts as pure normalization."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _NormBase(Module):
    """Shared by batch and instance norm: per-channel ``weight``/``bias`` (if ``affine``) and the
    buffers ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (int64 0)
    if ``track_running_stats``."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine_parameters(self, (num_features,), affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, input):
        dims = self._INPUT_DIMS
        if input.ndim not in dims:
            expected = " or ".join(f"{d}D" for d in dims)
            raise ValueError(f"expected {expected} input (got {input.ndim}D input)")

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def _step_momentum(self):
        """Count a training batch (when tracking) and return the running statistics' momentum for it."""
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average: the mean of every batch so far
                momentum = 1.0 / float(self.num_batches_tracked.item())
        return momentum

    def forward(self, input):
        self._check_input_dim(input)
        momentum = self._step_momentum()
        # Batch statistics in training, and in eval when no running ones are kept; the running
        # statistics are updated only in training when tracked.
        use_batch_stats = self.training or self.running_mean is None
        update = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if update else None, self.running_var if update else None,
                          self.weight, self.bias, use_batch_stats, momentum, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L): each channel is normalized with the batch's
    mean and (biased) variance in training, with the running ones in eval (see ``batch_norm``).
    ``momentum=None`` makes the running statistics a cumulative average. Shape: (N, C) or
    (N, C, L) -> same."""
    _INPUT_DIMS = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of each channel of (N, C, H, W) (see ``BatchNorm1d``)."""
    _INPUT_DIMS = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalization of each channel of (N, C, D, H, W) (see ``BatchNorm1d``)."""
    _INPUT_DIMS = (5,)


class _InstanceNorm(_NormBase):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input):
        self._check_input_dim(input)
        unbatched = input.ndim == self._INPUT_DIMS[0]
        feature_dim = 0 if unbatched else 1
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim={feature_dim} to match num_features "
                                 f"({self.num_features}), but got: {input.shape[feature_dim]}.")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You can "
                          f"silence this warning by not passing in num_features, which is not used "
                          f"because affine=False", stacklevel=2)
        if unbatched:
            input = input.unsqueeze(0)
        out = instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization: each channel of each sample of (N, C, L) or (C, L) normalized over
    L (see ``instance_norm``); no affine parameters or running statistics by default."""
    _INPUT_DIMS = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W) or (C, H, W) over H, W (see ``InstanceNorm1d``)."""
    _INPUT_DIMS = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization of (N, C, D, H, W) or (C, D, H, W) over D, H, W (see
    ``InstanceNorm1d``)."""
    _INPUT_DIMS = (4, 5)


def _shape_tuple(normalized_shape):
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(normalized_shape)


class LayerNorm(Module):
    """Normalize over the trailing dims ``normalized_shape`` of each sample, then ``* weight + bias``
    (elementwise, shape ``normalized_shape``; weight 1 and bias 0 at init). Shape:
    (*, *normalized_shape) -> same."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalize each of ``num_groups`` groups of channels of each sample, then ``* weight + bias``
    per channel (weight 1 and bias 0 at init). Shape: (N, C, *) -> same."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine_parameters(self, (num_channels,), affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """Divide by the root mean square over the trailing dims ``normalized_shape``, then ``* weight``
    (elementwise, 1 at init); ``eps=None`` uses the input dtype's machine epsilon. Shape:
    (*, *normalized_shape) -> same."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, False, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class LocalResponseNorm(Module):
    """Divide each element by ``(k + alpha / size * sum of squares over size neighbouring
    channels) ** beta`` (see ``local_response_norm``). Shape: (N, C, *) -> same."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
