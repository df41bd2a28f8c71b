"""Layers prepared for quantization: a Linear or Conv2d whose input and weight pass through a
``FakeQuantize`` each forward. With fake quantization on (``prepare_qat``) they train with the int8
model's rounding error; with it off (``prepare``) their observers only record the ranges that
``convert`` turns into int8 grids. ``from_float`` reuses the given layer's Parameter objects; but
``prepare_qat`` and ``prepare`` work on a deep copy of the model unless ``inplace=True``, so by default
an optimizer built on the original model's parameters does not train the prepared model: build it on
the returned model's parameters (or prepare with ``inplace=True``).
"""
from ...nn import Conv2d, Linear
from ...nn import functional as F

__all__ = ["QATLinear", "QATConv2d"]


class QATLinear(Linear):
    """``linear(input_fake_quant(x), weight_fake_quant(weight), bias)``. Shapes as ``Linear``."""

    @classmethod
    def from_float(cls, linear, weight_fake_quant, input_fake_quant):
        prepared = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        prepared.weight, prepared.bias = linear.weight, linear.bias
        prepared.weight_fake_quant, prepared.input_fake_quant = weight_fake_quant, input_fake_quant
        return prepared.train(linear.training)

    def forward(self, input):
        return F.linear(self.input_fake_quant(input), self.weight_fake_quant(self.weight), self.bias)


class QATConv2d(Conv2d):
    """``conv2d(input_fake_quant(x), weight_fake_quant(weight), bias)``. Shapes as ``Conv2d``."""

    @classmethod
    def from_float(cls, conv, weight_fake_quant, input_fake_quant):
        prepared = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                       bias=conv.bias is not None, padding_mode=conv.padding_mode)
        prepared.weight, prepared.bias = conv.weight, conv.bias
        prepared.weight_fake_quant, prepared.input_fake_quant = weight_fake_quant, input_fake_quant
        return prepared.train(conv.training)

    def forward(self, input):
        return self._conv_forward(self.input_fake_quant(input), self.weight_fake_quant(self.weight), self.bias)
