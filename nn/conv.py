"""Convolution layers: ``Conv1d``/``Conv2d``/``Conv3d`` and ``ConvTranspose1d``/``2d``/``3d``, with
PyTorch's arguments, parameter shapes, initialisation and repr."""

from ..engine import empty
from ..engine.ops import conv, pad
from ..engine.ops.conv import expand_param
from .linear import reset_weight_and_bias
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What every convolution layer shares. ``weight`` is (out_channels, in_channels / groups,
    *kernel_size), or (in_channels, out_channels / groups, *kernel_size) when transposed; ``bias``
    (out_channels,). Init as PyTorch: weight ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-b, b) with
    b = 1 / sqrt(fan_in), and bias ~ U(-b, b) with the same b."""

    _n = None  # number of spatial dims, set by each concrete class

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, transposed,
                 output_padding, groups, bias, padding_mode, device=None, dtype=None):
        super().__init__()
        name, n = type(self).__name__, self._n
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        kernel_size = expand_param(name, "kernel_size", kernel_size, n)
        stride = expand_param(name, "stride", stride, n)
        dilation = expand_param(name, "dilation", dilation, n)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = expand_param(name, "padding", padding, n)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {set(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.transposed, self.output_padding = transposed, expand_param(name, "output_padding", output_padding, n)
        self.groups, self.padding_mode = groups, padding_mode
        # F.pad's amounts (last dim first, before and after) for the non-zeros padding modes; a list
        # for a padding string and a tuple otherwise, as PyTorch keeps them
        if isinstance(padding, str):
            totals = [d * (k - 1) if padding == "same" else 0 for d, k in zip(dilation, kernel_size)]
            self._reversed_padding_repeated_twice = [a for t in reversed(totals) for a in (t // 2, t - t // 2)]
        else:
            self._reversed_padding_repeated_twice = tuple(a for p in reversed(padding) for a in (p, p))
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(empty(*shape, *kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups,
                         bias, padding_mode, device, dtype)

    def _conv_forward(self, input, weight, bias):
        function = getattr(conv, f"conv{self._n}d")
        if self.padding_mode != "zeros":
            padded = pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return function(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return function(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class _ConvTranspose(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise TypeError(f"{type(self).__name__}: padding must be an int or a tuple of ints, not "
                            f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """``output_padding``, or the one that gives ``output_size`` (its spatial sizes, or the full
        shape), which must lie within stride - 1 of the smallest output."""
        if output_size is None:
            return self.output_padding
        n = self._n
        output_size = tuple(output_size)
        non_spatial = 2 if input.ndim == n + 2 else 1
        if len(output_size) == non_spatial + n:
            output_size = output_size[non_spatial:]
        if len(output_size) != n:
            raise ValueError(f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} or "
                             f"{non_spatial + n} elements (got {len(output_size)})")
        smallest = [(input.shape[d + non_spatial] - 1) * self.stride[d] - 2 * self.padding[d] +
                    self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        largest = [s + stride - 1 for s, stride in zip(smallest, self.stride)]
        if any(size < low or size > high for size, low, high in zip(output_size, smallest, largest)):
            raise ValueError(f"requested an output size of {output_size}, but valid sizes range from {smallest} "
                             f"to {largest} (for an input of {tuple(input.shape[non_spatial:])})")
        return tuple(size - low for size, low in zip(output_size, smallest))

    def forward(self, input, output_size=None):
        function = getattr(conv, f"conv_transpose{self._n}d")
        return function(input, self.weight, self.bias, self.stride, self.padding,
                        self._output_padding(input, output_size), self.groups, self.dilation)


class Conv1d(_Conv):
    """1-D convolution. Shapes: input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out); see
    ``ember.nn.functional.conv1d``. ``padding_mode`` 'zeros', 'reflect', 'replicate' or 'circular'."""
    _n = 1


class Conv2d(_Conv):
    """2-D convolution. Shapes: input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out); see
    ``ember.nn.functional.conv2d``. ``padding_mode`` 'zeros', 'reflect', 'replicate' or 'circular'."""
    _n = 2


class Conv3d(_Conv):
    """3-D convolution. Shapes: input (N, C_in, D, H, W) or (C_in, D, H, W) -> (N, C_out, D_out, H_out,
    W_out); see ``ember.nn.functional.conv3d``."""
    _n = 3


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution (the gradient of Conv1d in its input). Shapes: (N, C_in, L) ->
    (N, C_out, L_out); ``forward(input, output_size)`` may ask for a size within stride - 1 of the
    smallest."""
    _n = 1


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution (the gradient of Conv2d in its input). Shapes: (N, C_in, H, W) ->
    (N, C_out, H_out, W_out); ``forward(input, output_size)`` may ask for a size within stride - 1 of
    the smallest."""
    _n = 2


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution (the gradient of Conv3d in its input). Shapes: (N, C_in, D, H, W) ->
    (N, C_out, D_out, H_out, W_out)."""
    _n = 3
