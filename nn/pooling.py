"""Pooling layers: ``MaxPool``, ``AvgPool``, ``AdaptiveAvgPool`` and ``AdaptiveMaxPool`` in 1, 2 and 3
dims, with PyTorch's arguments and repr; each calls the functional op of the same name."""
from ..engine.ops import pooling
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"]


class _MaxPoolNd(Module):
    _n = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return getattr(pooling, f"max_pool{self._n}d")(input, self.kernel_size, self.stride, self.padding,
                                                         self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, L) or (C, L); see ``ember.nn.functional.max_pool1d``."""
    _n = 1


class MaxPool2d(_MaxPoolNd):
    """Max over windows of (N, C, H, W) or (C, H, W); see ``ember.nn.functional.max_pool2d``."""
    _n = 2


class MaxPool3d(_MaxPoolNd):
    """Max over windows of (N, C, D, H, W) or (C, D, H, W); see ``ember.nn.functional.max_pool3d``."""
    _n = 3


class _AvgPoolNd(Module):
    _n = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        args = (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        if self._n > 1:  # avg_pool1d takes no divisor_override
            args += (self.divisor_override,)
        return getattr(pooling, f"avg_pool{self._n}d")(input, *args)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of (N, C, L) or (C, L); see ``ember.nn.functional.avg_pool1d``."""
    _n = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        # PyTorch keeps AvgPool1d's sizes as 1-tuples (so its repr shows them so)
        def single(value):
            return (value,) if isinstance(value, int) else tuple(value)
        super().__init__(single(kernel_size), single(stride if stride is not None else kernel_size),
                         single(padding), ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over windows of (N, C, H, W) or (C, H, W); see ``ember.nn.functional.avg_pool2d``."""
    _n = 2


class AvgPool3d(_AvgPoolNd):
    """Mean over windows of (N, C, D, H, W) or (C, D, H, W); see ``ember.nn.functional.avg_pool3d``."""
    _n = 3


class _AdaptiveAvgPoolNd(Module):
    _n = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return getattr(pooling, f"adaptive_avg_pool{self._n}d")(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, L) or (C, L) to ``output_size``; see ``adaptive_avg_pool1d``."""
    _n = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, H, W) or (C, H, W) to ``output_size`` (None keeps a size); see
    ``adaptive_avg_pool2d``."""
    _n = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to ``output_size``; see ``adaptive_avg_pool3d``."""
    _n = 3


class _AdaptiveMaxPoolNd(Module):
    _n = None

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return getattr(pooling, f"adaptive_max_pool{self._n}d")(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, L) or (C, L) to ``output_size``; see ``adaptive_max_pool1d``."""
    _n = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, H, W) or (C, H, W) to ``output_size``; see ``adaptive_max_pool2d``."""
    _n = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to ``output_size``; see ``adaptive_max_pool3d``."""
    _n = 3
