"""``ember.compress.quantize``: int8 models for CPU inference, 4x smaller.

Post-training quantization (PyTorch's eager-mode names)::

    from ember.compress import quantize
    prepared = quantize.prepare(model)              # observers on each Linear's and Conv2d's input
    quantize.calibrate(prepared, train_loader, num_batches=4)   # record activation ranges
    int8_model = quantize.convert(prepared)         # QuantizedLinear / QuantizedConv2d layers
    ember.save(int8_model.state_dict(), "model-int8.safetensors")   # int8 weights: ~4x smaller

Quantization-aware training: ``prepare_qat(model)`` fake-quantizes weights and activations in every
forward (straight-through gradient), train as usual, then ``convert``. ``quantize_dynamic(model)``
quantizes Linear layers with a per-batch activation range, without calibration. ``load_quantized``
loads an int8 checkpoint into a float model of the same architecture.

The scheme: weights int8 per output channel, symmetric; activations int8 per tensor, affine
(observers.py says why); int8 x int8 products summed exactly in int32 (``ember.kernels`` ops
``int8_matmul``, ``quantized_linear``, ``quantized_conv2d``); float32 in and out of each int8 layer.
"""
from .fake_quantize import (FakeQuantize, disable_fake_quant, disable_observer, enable_fake_quant, enable_observer,
                            fake_quantize_per_channel_affine, fake_quantize_per_tensor_affine)
from .observers import (MinMaxObserver, MovingAverageMinMaxObserver, Observer, PercentileObserver,
                        PerChannelMinMaxObserver)
from .qat import QATConv2d, QATLinear
from .quantized import QuantizedConv2d, QuantizedLinear
from .workflow import calibrate, convert, load_quantized, prepare, prepare_qat, quantize_dynamic

__all__ = ["prepare", "calibrate", "convert", "prepare_qat", "quantize_dynamic", "load_quantized",
           "QuantizedLinear", "QuantizedConv2d", "QATLinear", "QATConv2d", "FakeQuantize",
           "fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine", "enable_fake_quant",
           "disable_fake_quant", "enable_observer", "disable_observer", "Observer", "MinMaxObserver",
           "MovingAverageMinMaxObserver", "PercentileObserver", "PerChannelMinMaxObserver"]
