"""int8 layers for inference: ``QuantizedLinear`` and ``QuantizedConv2d``.

Each keeps its weight as an int8 buffer with one float32 scale per output channel (symmetric, zero
point 0), its bias in float32 (it is added to the float output: an int32 bias takes as many bytes and
rounds), and the grid of its input: ``input_scale`` and ``input_zero_point``, calibrated (static), or
chosen from each batch's range as it arrives (``dynamic=True``). The forward quantizes the float input,
multiplies in int8 with int32 sums and returns float32 (kernels/quantized.py): a float model with int8
layers, the other layers (ReLU, pooling) unchanged. The layers keep ``in_features``/``out_features``
and ``in_channels``/``out_channels``/``kernel_size``, so model summaries count their FLOPs.

They are inference-only: nothing in them is trained, and a backward through one raises.
"""
import numpy as np

from ...engine import Function, Tensor
from ...engine.ops.conv import _padding, expand_param
from ...kernels import dispatch
from ...kernels.quantized import quantize
from ...nn import Module
from .observers import affine_qparams

__all__ = ["QuantizedLinear", "QuantizedConv2d"]


class Int8Forward(Function):
    """Runs a quantized layer's kernel on its input; there is no gradient to give back."""

    @staticmethod
    def forward(ctx, x, layer):
        ctx.layer_name = type(layer).__name__
        return layer._compute(x)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(f"{ctx.layer_name} runs inference only: int8 layers have no gradient. Train the float "
                           f"model, or fine-tune with quantization-aware training (prepare_qat), then convert()")


class _QuantizedLayer(Module):
    """What both layers share: the buffers and the input's grid."""

    def __init__(self, weight_shape, bias, dynamic):
        super().__init__()
        self.dynamic = dynamic
        self.register_buffer("weight", Tensor(np.zeros(weight_shape, np.int8)))
        self.register_buffer("weight_scale", Tensor(np.ones(weight_shape[0], np.float32)))
        self.register_buffer("bias", Tensor(np.zeros(weight_shape[0], np.float32)) if bias else None)
        if not dynamic:
            self.register_buffer("input_scale", Tensor(np.array(1, np.float32)))
            self.register_buffer("input_zero_point", Tensor(np.array(0, np.int32)))

    def set_weight(self, weight, scale):
        """Quantize a float ``weight`` onto the symmetric grid of per-channel ``scale`` ((out,))."""
        weight = weight.detach().numpy(force=True)
        scale = np.asarray(scale, np.float32)
        shape = (-1,) + (1,) * (weight.ndim - 1)
        self.weight = Tensor(quantize(weight, scale.reshape(shape), 0, -127, 127).astype(np.int8))
        self.weight_scale = Tensor(scale)

    def set_input_qparams(self, scale, zero_point):
        self.input_scale = Tensor(np.asarray(scale, np.float32).reshape(()))
        self.input_zero_point = Tensor(np.asarray(zero_point, np.int32).reshape(()))

    def forward(self, input):
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a Tensor input, got {type(input).__name__}")
        if input.device.type != "cpu":
            raise RuntimeError(f"{name}: int8 layers run on the CPU; got an input on {input.device}")
        if input.dtype.name != "float32":
            raise TypeError(f"{name}: expected a float32 input, got {input.dtype.name} (int8 layers quantize "
                            f"float32 activations)")
        self._check_shape(tuple(input.shape))
        return Int8Forward.apply(input, self)

    def _input_qparams(self, x):
        if self.dynamic:  # this batch's range
            return affine_qparams(x.min(), x.max()) if x.size else (np.float32(1), np.int32(0))
        return self.input_scale.numpy(), self.input_zero_point.numpy()

    def _common_repr(self):
        grid = "dynamic" if self.dynamic else \
            f"input_scale={self.input_scale.item():.4g}, input_zero_point={self.input_zero_point.item()}"
        return f"bias={self.bias is not None}, {grid}"


class QuantizedLinear(_QuantizedLayer):
    """int8 ``y = x W^T + b``. Shapes: input (*, in_features) float32 -> (*, out_features) float32;
    buffers weight (out_features, in_features) int8, weight_scale (out_features,), bias (out_features,)."""

    def __init__(self, in_features, out_features, bias=True, dynamic=False):
        self.in_features, self.out_features = in_features, out_features
        super().__init__((out_features, in_features), bias, dynamic)

    def _check_shape(self, shape):
        if len(shape) < 1 or shape[-1] != self.in_features:
            raise RuntimeError(f"QuantizedLinear: expected an input of shape (*, {self.in_features}), got {shape}")

    def _compute(self, x):
        scale, zero_point = self._input_qparams(x)
        rows = x.reshape(-1, self.in_features)
        out = dispatch("quantized_linear", rows)(rows, self.weight.numpy(), self.weight_scale.numpy(),
                                                 None if self.bias is None else self.bias.numpy(), scale, zero_point)
        return out.reshape(x.shape[:-1] + (self.out_features,))

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, {self._common_repr()}"


class QuantizedConv2d(_QuantizedLayer):
    """int8 2-D convolution (zero padding, groups=1). Shapes: input (N, in_channels, H, W) or
    (in_channels, H, W) float32 -> (N, out_channels, Ho, Wo) float32; buffers weight
    (out_channels, in_channels, kh, kw) int8, weight_scale (out_channels,), bias (out_channels,)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True,
                 dynamic=False):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = expand_param("QuantizedConv2d", "kernel_size", kernel_size, 2)
        self.stride = expand_param("QuantizedConv2d", "stride", stride, 2)
        self.dilation = expand_param("QuantizedConv2d", "dilation", dilation, 2)
        self.padding = padding if isinstance(padding, str) else expand_param("QuantizedConv2d", "padding", padding, 2)
        self.groups = 1
        before, after = _padding("QuantizedConv2d", self.padding, self.kernel_size, self.stride, self.dilation, 2)
        self._pairs = tuple(zip(before, after))  # ((top, bottom), (left, right))
        super().__init__((out_channels, in_channels, *self.kernel_size), bias, dynamic)

    def _check_shape(self, shape):
        if len(shape) not in (3, 4) or shape[-3] != self.in_channels:
            raise RuntimeError(f"QuantizedConv2d: expected an input of shape (N, {self.in_channels}, H, W) or "
                               f"({self.in_channels}, H, W), got {shape}")
        padded = [size + before + after for size, (before, after) in zip(shape[-2:], self._pairs)]
        span = [d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation)]
        if padded[0] < span[0] or padded[1] < span[1]:
            raise RuntimeError(f"QuantizedConv2d: the padded input ({padded[0]} x {padded[1]}) is smaller than the "
                               f"dilated kernel ({span[0]} x {span[1]}); input {shape}")

    def _compute(self, x):
        if x.ndim == 3:
            return self._compute(x[None])[0]
        scale, zero_point = self._input_qparams(x)
        return dispatch("quantized_conv2d", x)(x, self.weight.numpy(), self.weight_scale.numpy(),
                                               None if self.bias is None else self.bias.numpy(), scale, zero_point,
                                               self.stride, self._pairs, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, {self._common_repr()}")
