"""From a float model to an int8 one, with PyTorch's eager-mode names:

    prepared = prepare(model)                  # observers on every Linear's and Conv2d's input
    calibrate(prepared, batches)               # sample batches record the activation ranges
    int8_model = convert(prepared)             # int8 layers: QuantizedLinear, QuantizedConv2d

    qat = prepare_qat(model)                   # fake quantization in training (then convert)
    dynamic = quantize_dynamic(model)          # Linear layers with per-batch activation ranges
    int8_model = load_quantized(create_model(), ember.load(path))   # an int8 checkpoint back

Each replaces layers of the exact types Linear and Conv2d (not subclasses), as PyTorch's do; a Conv2d
the int8 kernel can't run (groups > 1, a padding mode other than zeros) stays float, with a warning.
``prepare``, ``prepare_qat``, ``convert`` and ``quantize_dynamic`` work on a copy unless ``inplace``.
"""
import copy
import warnings

from ...engine import Tensor, no_grad
from ...nn import Conv2d, Linear
from .fake_quantize import FakeQuantize
from .observers import MinMaxObserver, MovingAverageMinMaxObserver, PerChannelMinMaxObserver
from .qat import QATConv2d, QATLinear
from .quantized import QuantizedConv2d, QuantizedLinear

__all__ = ["prepare", "calibrate", "prepare_qat", "convert", "quantize_dynamic", "load_quantized"]

_PREPARED = {Linear: QATLinear, Conv2d: QATConv2d}


def _unsupported(module):
    """Why the int8 kernels can't run this layer, or None."""
    if type(module) is Conv2d and (module.groups != 1 or module.padding_mode != "zeros"):
        return f"groups={module.groups}, padding_mode={module.padding_mode!r} (int8 convolutions have groups=1 " \
               f"and zero padding)"
    return None


def _replace(model, swap, inplace):
    """``model`` (a copy unless ``inplace``) with each module m for which ``swap(name, m)`` returns a
    module replaced by it; the children of a replaced module are not visited."""
    model = model if inplace else copy.deepcopy(model)

    def visit(module, prefix):
        for name, child in list(module._modules.items()):
            if child is None:
                continue
            path = f"{prefix}.{name}" if prefix else name
            new = swap(path, child)
            if new is None:
                visit(child, path)
            else:
                setattr(module, name, new)

    top = swap("", model)
    if top is not None:
        return top
    visit(model, "")
    return model


def _float_layers_swap(make, kinds):
    """A ``swap`` for ``_replace`` that turns the float layers of ``kinds`` into ``make(layer)``."""
    def swap(path, module):
        if type(module) not in kinds:
            return None
        reason = _unsupported(module)
        if reason is not None:
            warnings.warn(f"quantize: leaving '{path or type(module).__name__}' in float: {reason}")
            return None
        return make(module)
    return swap


def _weight_fake_quant(layer, fake_quant):
    return FakeQuantize(PerChannelMinMaxObserver(channels=layer.weight.shape[0]), fake_quant=fake_quant)


def _check_on_cpu(model, caller):
    """Quantization computes its grids and int8 layers with NumPy: a model elsewhere is refused."""
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        if tensor.device.type != "cpu":
            raise RuntimeError(f"{caller}: quantization runs on the CPU, but '{name}' is on {tensor.device}: move the "
                               f"model with .cpu() first")


def prepare(model, observer=MinMaxObserver, inplace=False):
    """Post-training quantization, step 1: every Linear and Conv2d observes its input
    (``observer()`` makes one observer per layer) and computes as before. Then run sample batches
    through it (``calibrate``) and ``convert`` it. The model must be on the CPU."""
    _check_on_cpu(model, "prepare")
    def make(layer):
        return _PREPARED[type(layer)].from_float(layer, _weight_fake_quant(layer, fake_quant=False),
                                                 FakeQuantize(observer(), fake_quant=False))
    return _replace(model, _float_layers_swap(make, _PREPARED), inplace)


def prepare_qat(model, observer=MovingAverageMinMaxObserver, inplace=False):
    """Quantization-aware training: every Linear and Conv2d fake-quantizes its weight (per channel)
    and its input (per tensor, on the grid of ``observer()``'s range) in each forward, with the
    straight-through gradient. The prepared layers hold the Parameters of the model they are made from:
    a deep copy of ``model`` unless ``inplace``, so build the optimizer on the returned model's
    parameters, fine-tune, then ``convert``. The model must be on the CPU."""
    _check_on_cpu(model, "prepare_qat")
    def make(layer):
        return _PREPARED[type(layer)].from_float(layer, _weight_fake_quant(layer, fake_quant=True),
                                                 FakeQuantize(observer()))
    return _replace(model, _float_layers_swap(make, _PREPARED), inplace)


def _check_prepared(model, caller):
    if not any(isinstance(m, (QATLinear, QATConv2d)) for m in model.modules()):
        raise ValueError(f"{caller}: the model has no prepared layers: call prepare(model) (post-training) or "
                         f"prepare_qat(model) (quantization-aware training) first")


def calibrate(model, data, num_batches=None):
    """Run the batches of ``data`` (an iterable of input Tensors, or of tuples whose first item is the
    input, as a DataLoader gives) through a prepared ``model`` in eval mode without gradients, so its
    observers record the activation ranges; at most ``num_batches`` of them. Returns ``model``."""
    _check_prepared(model, "calibrate")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for i, batch in enumerate(data):
                if num_batches is not None and i >= num_batches:
                    break
                model(batch[0] if isinstance(batch, (tuple, list)) else batch)
    finally:
        model.train(was_training)
    return model


def _quantized_from_prepared(path, layer):
    """The int8 layer on the grids the prepared layer's FakeQuantizes use (as their forward would)."""
    act, weight = layer.input_fake_quant, layer.weight_fake_quant
    with no_grad():
        weight(layer.weight)  # the final weights' grid, unless its observer was disabled
    for which, fake_quant in (("input", act), ("weight", weight)):
        if not fake_quant.activation_post_process.calibrated:
            raise RuntimeError(f"convert: the {which} observer of '{path or type(layer).__name__}' "
                               f"({type(layer).__name__}) has seen no data, so its int8 range is unknown: run "
                               f"calibrate(model, batches) after prepare() (or train after prepare_qat()) "
                               f"before convert()")
    quantized = _int8_layer(layer, weight.scale.numpy(), dynamic=False)
    quantized.set_input_qparams(act.scale.numpy(), act.zero_point.numpy())
    return quantized


def _int8_layer(layer, weight_scale, dynamic):
    """The int8 layer of ``layer`` (a float or prepared Linear/Conv2d): its weight on the grid of the
    per-channel ``weight_scale``, its bias."""
    quantized = _empty_quantized(layer, dynamic)
    quantized.set_weight(layer.weight, weight_scale)
    if layer.bias is not None:
        quantized.bias = Tensor(layer.bias.detach().numpy(force=True).astype("float32"))
    return quantized


def _empty_quantized(layer, dynamic):
    """The int8 layer of ``layer``'s shape (a float or prepared Linear/Conv2d), weights still zero."""
    bias = layer.bias is not None
    if isinstance(layer, Linear):
        return QuantizedLinear(layer.in_features, layer.out_features, bias=bias, dynamic=dynamic)
    return QuantizedConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                           padding=layer.padding, dilation=layer.dilation, bias=bias, dynamic=dynamic)


def convert(model, inplace=False):
    """The int8 model of a prepared (and calibrated) or QAT-trained model: each prepared layer becomes a
    ``QuantizedLinear``/``QuantizedConv2d`` with its weight on a per-channel int8 grid and its input on
    the range its observer recorded. Returned in eval mode (int8 layers run inference only)."""
    _check_prepared(model, "convert")

    def swap(path, module):
        return _quantized_from_prepared(path, module) if isinstance(module, (QATLinear, QATConv2d)) else None
    return _replace(model, swap, inplace).eval()


def quantize_dynamic(model, qconfig_spec=(Linear,), inplace=False):
    """Dynamic quantization, as PyTorch's: the layers of the types in ``qconfig_spec`` (Linear by
    default; Conv2d may be added) get int8 weights now and quantize each input batch on its own range at
    run time; nothing to calibrate. Returned in eval mode."""
    unknown = [kind for kind in qconfig_spec if kind not in (Linear, Conv2d)]
    if unknown:
        raise ValueError(f"quantize_dynamic: can quantize Linear and Conv2d, not {[k.__name__ for k in unknown]}")

    def make(layer):
        observer = PerChannelMinMaxObserver()
        with no_grad():
            observer(layer.weight)
        return _int8_layer(layer, observer.calculate_qparams()[0], dynamic=True)
    return _replace(model, _float_layers_swap(make, set(qconfig_spec)), inplace).eval()


def load_quantized(model, state_dict):
    """Load an int8 checkpoint (the ``state_dict`` of a converted model) into ``model``, a float model of
    the same architecture: its Linear and Conv2d layers whose weights the checkpoint holds as int8 are
    replaced (in place) by empty int8 layers, static or dynamic as saved, and the state is loaded
    (strictly). Returns the model in eval mode."""
    def swap(path, module):
        weight = state_dict.get(f"{path}.weight" if path else "weight")
        if type(module) not in _PREPARED or weight is None or weight.dtype.name != "int8":
            return None
        return _empty_quantized(module, dynamic=(f"{path}.input_scale" if path else "input_scale") not in state_dict)
    model = _replace(model, swap, inplace=True)
    model.load_state_dict(state_dict)
    return model.eval()
