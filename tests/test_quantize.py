"""ember.compress.quantize and its int8 kernels.

- The int8 kernels: every implementation equals the NumPy reference (integers exactly; the cases are
  in tests/kernel_cases/quantized.py), bad input raises.
- Quantized layers stay within a bound on their error that follows from the two grids' step sizes:
  with w^ = s_w W_q (|w^ - w| <= s_w / 2) and x^ the quantized input (|x^ - x| <= s_x / 2 inside the
  calibrated range), y^ - y = (w^ - w) . x^ + w . (x^ - x), so |y^ - y| <= s_w / 2 |x^| . 1 + s_x / 2 . |w|.
  For the whole LeNet the bound is carried layer by layer (ReLU and max pooling do not grow it).
- Fake quantization and a QAT layer against PyTorch (forward and straight-through gradients), the
  observers' grids against PyTorch's, QAT -> convert, checkpoints (size, round trip), errors.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.compress import quantize
from ember.kernels import quantized as qkernels
from ember.kernels import registry
from kernel_check import check_against_reference, load_cases

F = nn.functional
CASES = [case for case in load_cases() if case.op in ("int8_matmul", "quantized_linear", "quantized_conv2d")]


# ---- kernels --------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@pytest.mark.parametrize("layout", ["contiguous", "noncontiguous"])
def test_every_implementation_matches_the_reference(case, layout):
    assert ember.kernels.names(case.op, "cpu")[-1] == "numpy"
    others = ember.kernels.names(case.op, "cpu")[:-1]
    if not others:
        pytest.skip("only the NumPy reference is available: the C++ extension is not built")
    reference = registry.implementation(case.op, "cpu", "numpy")
    for name in others:
        check_against_reference(case, registry.implementation(case.op, "cpu", name), reference, layout, range(6), name)


def test_int8_matmul_reference_is_exact_integer_arithmetic():
    rng = np.random.default_rng(0)
    a, b = rng.integers(-128, 128, (9, 31)).astype(np.int8), rng.integers(-128, 128, (31, 5)).astype(np.int8)
    expected = [[sum(int(a[i, k]) * int(b[k, j]) for k in range(31)) for j in range(5)] for i in range(9)]
    np.testing.assert_array_equal(qkernels.int8_matmul(a, b), expected)


@pytest.mark.parametrize("name", ["cpp", "numpy"])
def test_int8_matmul_longest_exact_inner_dimension(name):
    if name not in ember.kernels.names("int8_matmul", "cpu"):
        pytest.skip("the C++ extension is not built")
    kernel = registry.implementation("int8_matmul", "cpu", name)
    a = np.full((2, 131071), -128, np.int8)  # 131071 * 128 * 128 = 2^31 - 2^14: the largest exact sum
    np.testing.assert_array_equal(kernel(a, a.T.copy()), np.full((2, 2), 131071 * 128 * 128))
    with pytest.raises(ValueError, match="int8_matmul: the inner dimension 131072 is too long"):
        kernel(np.zeros((1, 131072), np.int8), np.zeros((131072, 1), np.int8))


@pytest.mark.parametrize("name", ["cpp", "numpy"])
def test_int8_kernels_reject_bad_input(name):
    if name not in ember.kernels.names("int8_matmul", "cpu"):
        pytest.skip("the C++ extension is not built")
    matmul = registry.implementation("int8_matmul", "cpu", name)
    a = np.zeros((3, 4), np.int8)
    with pytest.raises(TypeError, match="int8_matmul: expected b of dtype int8, got float32"):
        matmul(a, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"int8_matmul: a and b shapes cannot be multiplied \(3x4 and 5x2\)"):
        matmul(a, np.zeros((5, 2), np.int8))
    linear = registry.implementation("quantized_linear", "cpu", name)
    with pytest.raises(TypeError, match="quantized_linear: expected weight of dtype int8, got float32"):
        linear(np.zeros((2, 4), np.float32), np.zeros((3, 4), np.float32), np.ones(3, np.float32), None, 0.1, 0)
    with pytest.raises(TypeError, match="quantized_linear: expected a float32 input, got float64"):
        linear(np.zeros((2, 4)), a, np.ones(3, np.float32), None, 0.1, 0)
    with pytest.raises(ValueError, match="zero_point must lie in"):
        linear(np.zeros((2, 4), np.float32), a, np.ones(3, np.float32), None, 0.1, 128)


# ---- fake quantization against PyTorch ----------------------------------------------------------

def _forward_and_grad(function, x, library):
    """function(x) and the gradient of sum(function(x) * weights) in x, as NumPy arrays; ``library``
    is ember or torch."""
    x = library.tensor(x, requires_grad=True)
    out = function(x)
    (out * library.tensor(np.arange(out.numel(), dtype=np.float32).reshape(tuple(out.shape)))).sum().backward()
    return out.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("quant_range", [(-128, 127), (0, 255), (-127, 127)])
def test_fake_quantize_per_tensor_matches_pytorch(quant_range):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, (4, 50)).astype(np.float32)  # many beyond the grid: clamped, zero gradient
    x[0, :10] = (np.arange(10) - 5 + 0.5) * 0.05  # halfway points: round half to even
    low, high = quant_range
    scale, zero_point = 0.05, (low + high) // 2 + 3
    ours = _forward_and_grad(lambda t: quantize.fake_quantize_per_tensor_affine(t, scale, zero_point, low, high), x,
                             ember)
    theirs = _forward_and_grad(lambda t: torch.fake_quantize_per_tensor_affine(t, scale, zero_point, low, high), x,
                               torch)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert 0 < (ours[1] == 0).mean() < 0.9  # both sides of the clamp are exercised


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_fake_quantize_per_channel_matches_pytorch(axis):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 2, (3, 4, 5)).astype(np.float32)
    channels = x.shape[axis]
    scale = rng.uniform(0.005, 0.03, channels).astype(np.float32)
    zero_point = rng.integers(-20, 20, channels).astype(np.int32)
    ours = _forward_and_grad(lambda t: quantize.fake_quantize_per_channel_affine(
        t, ember.tensor(scale), ember.tensor(zero_point), axis, -128, 127), x, ember)
    theirs = _forward_and_grad(lambda t: torch.fake_quantize_per_channel_affine(
        t, torch.tensor(scale), torch.tensor(zero_point), axis % 3, -128, 127), x, torch)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_fake_quantize_rejects_bad_grids():
    x = ember.randn(2, 3)
    with pytest.raises(ValueError, match="zero_point must lie in"):
        quantize.fake_quantize_per_tensor_affine(x, 0.1, 200, -128, 127)
    with pytest.raises(ValueError, match="scale must be positive"):
        quantize.fake_quantize_per_tensor_affine(x, 0.0, 0, -128, 127)
    with pytest.raises(ValueError, match="quant_min <= quant_max"):
        quantize.fake_quantize_per_tensor_affine(x, 0.1, 0, 5, -5)
    with pytest.raises(ValueError, match=r"expected scale and zero_point of shape \(3,\)"):
        quantize.fake_quantize_per_channel_affine(x, np.ones(2), np.zeros(2), 1, -128, 127)


def test_observer_grids_match_pytorch():
    from torch.ao import quantization as tq
    rng = np.random.default_rng(3)
    batches = [rng.normal(0.5, 1, (8, 20)).astype(np.float32) for _ in range(3)]
    ours, theirs = quantize.MinMaxObserver(), tq.MinMaxObserver(dtype=torch.qint8, quant_min=-128, quant_max=127)
    for batch in batches:
        ours(ember.tensor(batch))
        theirs(torch.tensor(batch))
    scale, zero_point = ours.calculate_qparams()
    expected_scale, expected_zero_point = theirs.calculate_qparams()
    np.testing.assert_allclose(scale, expected_scale.numpy().reshape(()), rtol=1e-6)
    assert zero_point == expected_zero_point.item()

    weight = rng.normal(0, 0.1, (6, 3, 5, 5)).astype(np.float32)
    ours = quantize.PerChannelMinMaxObserver()
    theirs = tq.PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                         quant_min=-127, quant_max=127)
    ours(ember.tensor(weight))
    theirs(torch.tensor(weight))
    scale, zero_point = ours.calculate_qparams()
    np.testing.assert_allclose(scale, theirs.calculate_qparams()[0].numpy(), rtol=1e-6)
    assert not zero_point.any()


def test_percentile_observer_ignores_outliers():
    values = np.linspace(-1, 1, 10001, dtype=np.float32)
    values[[3, 5000]] = [-50, 80]
    observer = quantize.PercentileObserver(percentile=99.9)
    observer(ember.tensor(values))
    low, high = np.percentile(values, [0.1, 99.9])
    np.testing.assert_allclose([observer.min_val.item(), observer.max_val.item()], [low, high], rtol=1e-6)
    assert observer.calculate_qparams()[0] < 2.5 / 255  # the grid spans about [-1, 1], not [-50, 80]


def test_percentile_observer_keeps_a_bounded_sample():
    observer = quantize.PercentileObserver(samples_per_batch=100, max_samples=1000)
    rng = np.random.default_rng(8)
    observer(ember.tensor(rng.normal(0, 1, 199).astype(np.float32)))  # a stride of 2 would keep 100
    assert 0 < observer._pool.size <= 100
    for _ in range(100):
        observer(ember.tensor(rng.normal(0, 1, (7, 29)).astype(np.float32)))
    assert observer._pool.size == 1000  # full, and no larger however many batches pass


def test_percentile_observer_pool_samples_all_batches_alike():
    """Batch b is uniform in [b, b + 1]: a pool that favoured recent (or early) batches would move the
    low (or high) percentile by whole batches."""
    rng = np.random.default_rng(9)
    batches = [rng.uniform(b, b + 1, 1000).astype(np.float32) for b in range(40)]
    observer = quantize.PercentileObserver(percentile=99, samples_per_batch=1000, max_samples=4000)
    for batch in batches:
        observer(ember.tensor(batch))
    expected = np.percentile(np.concatenate(batches), [1, 99])
    np.testing.assert_allclose([observer.min_val.item(), observer.max_val.item()], expected, atol=0.3)


OBSERVERS = [quantize.MinMaxObserver, quantize.MovingAverageMinMaxObserver, quantize.PercentileObserver,
             quantize.PerChannelMinMaxObserver]


@pytest.mark.parametrize("observer", OBSERVERS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_observers_reject_nan_and_inf_and_keep_their_range(observer, bad):
    observer = observer()
    good = np.random.default_rng(10).normal(0, 1, (4, 6)).astype(np.float32)
    observer(ember.tensor(good))
    grid = observer.calculate_qparams()
    batch = good.copy()
    batch[1, 2] = bad
    with pytest.raises(ValueError, match=rf"{type(observer).__name__}: the batch of shape \(4, 6\) holds NaN or inf "
                                         rf"\(1 of 24 values\)"):
        observer(ember.tensor(batch))
    assert observer.calibrated
    for ours, before in zip(observer.calculate_qparams(), grid):
        np.testing.assert_array_equal(ours, before)


def test_calibrating_on_nan_names_the_observer_not_missing_data():
    prepared = quantize.prepare(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(ValueError, match=r"MinMaxObserver: the batch of shape \(2, 3\) holds NaN or inf"):
        quantize.calibrate(prepared, [ember.tensor(np.array([[1, np.nan, 0], [0, 1, 2]], np.float32))])


@pytest.mark.parametrize("observer", OBSERVERS, ids=lambda kind: kind.__name__)
def test_whether_an_observer_has_seen_data_round_trips_through_the_state_dict(observer):
    def make():  # a per-channel observer given its channels has its final buffer shapes
        return observer(channels=3) if observer is quantize.PerChannelMinMaxObserver else observer()
    calibrated, fresh = make(), make()
    assert not fresh.calibrated
    calibrated(ember.randn(3, 5))
    fresh.load_state_dict(calibrated.state_dict())
    assert fresh.calibrated
    for ours, expected in zip(fresh.calculate_qparams(), calibrated.calculate_qparams()):
        np.testing.assert_array_equal(ours, expected)
    fresh.load_state_dict(make().state_dict())
    assert not fresh.calibrated


# ---- quantized layers ---------------------------------------------------------------------------

def _calibrated(layer, x):
    prepared = quantize.prepare(nn.Sequential(layer))
    quantize.calibrate(prepared, [x])
    return quantize.convert(prepared)[0]


def _step_size_bound(quantized, layer, x, forward):
    """s_w / 2 |x^| . 1 + s_x / 2 |w| . 1 per output (in float64), with ``forward(input, weight)`` the
    layer's map."""
    scale, zero_point = quantized.input_scale.numpy(), quantized.input_zero_point.numpy()
    x_hat = (qkernels.quantize(x, scale, zero_point).astype(np.float64) - zero_point) * scale
    weight = layer.weight.detach().numpy().astype(np.float64)
    w_step = quantized.weight_scale.numpy().astype(np.float64).reshape((-1,) + (1,) * (weight.ndim - 1)) / 2
    return (forward(ember.tensor(np.abs(x_hat)), ember.tensor(np.broadcast_to(w_step, weight.shape).copy()))
            + forward(ember.tensor(np.ones(x.shape)), ember.tensor(np.abs(weight) * float(scale) / 2))).numpy()


@pytest.mark.parametrize("layer,shape", [(lambda: nn.Linear(40, 7), (16, 40)),
                                         (lambda: nn.Conv2d(3, 5, 3, padding=1), (2, 3, 9, 11)),
                                         (lambda: nn.Conv2d(2, 4, (3, 2), stride=2, dilation=(1, 2)), (3, 2, 10, 9))])
def test_quantized_layer_error_within_step_size_bound(layer, shape):
    ember.manual_seed(0)
    layer = layer()
    x = np.random.default_rng(4).normal(0.3, 1, shape).astype(np.float32)
    quantized = _calibrated(layer, ember.tensor(x))
    with ember.no_grad():
        expected, actual = layer(ember.tensor(x)).numpy(), quantized(ember.tensor(x)).numpy()
    if isinstance(layer, nn.Linear):
        bound = _step_size_bound(quantized, layer, x, lambda i, w: F.linear(i, w))
    else:
        bound = _step_size_bound(quantized, layer, x, lambda i, w: F.conv2d(i, w, None, layer.stride, layer.padding,
                                                                         layer.dilation))
    error = np.abs(actual - expected)
    assert np.all(error <= bound * (1 + 1e-4) + 1e-6), (error - bound).max()
    assert error.max() > 0 and bound.max() < 0.05 * np.abs(expected).max()  # a bound that says something


def _carried_noise(model, quantized_model, x):
    """The variance of int8 logits - float logits for a Sequential under the noise model of quantization:
    each rounding error uniform in +-step / 2 (variance step^2 / 12) and independent of the others. An
    int8 layer whose input already errs with variance v adds w^2 . (v + s_x^2 / 12) + x^2 . s_w^2 / 12;
    ReLU keeps v, max pooling takes its window's largest. (The worst-case bound of the single layers,
    carried through five layers, assumes every error lines up with its weight's sign and is vacuous: 500x
    the logits.)"""
    variance, h = np.zeros(x.shape), x
    for layer, q in zip(model, quantized_model):
        if isinstance(q, (quantize.QuantizedLinear, quantize.QuantizedConv2d)):
            w = layer.weight.detach().numpy().astype(np.float64)
            w_step_variance = np.broadcast_to(
                q.weight_scale.numpy().astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1)) ** 2 / 12, w.shape)
            if isinstance(q, quantize.QuantizedLinear):
                def forward(i, k):
                    return F.linear(ember.tensor(i), ember.tensor(np.ascontiguousarray(k))).numpy()
            else:
                def forward(i, k, layer=layer):
                    return F.conv2d(ember.tensor(i), ember.tensor(np.ascontiguousarray(k)), None, layer.stride,
                                    layer.padding, layer.dilation).numpy()
            variance = forward(variance + float(q.input_scale.item()) ** 2 / 12, w ** 2) + \
                forward(h.astype(np.float64) ** 2, w_step_variance)
        elif not isinstance(layer, nn.ReLU):
            variance = layer(ember.tensor(variance)).numpy()  # max pooling, Flatten
        with ember.no_grad():
            h = layer(ember.tensor(h)).numpy()
    return variance


def test_quantized_lenet_within_noise_model_tolerance():
    ember.manual_seed(0)
    model = ember.models.create("lenet").eval()
    x = np.random.default_rng(5).normal(0, 1, (64, 1, 28, 28)).astype(np.float32)
    int8_model = quantize.convert(quantize.calibrate(quantize.prepare(model), [ember.tensor(x)]))
    with ember.no_grad():
        expected, actual = model(ember.tensor(x)).numpy(), int8_model(ember.tensor(x)).numpy()
    deviation = np.sqrt(_carried_noise(model.layers, int8_model.layers, x))
    error = np.abs(actual - expected)
    assert np.all(error <= 6 * deviation + 1e-6), (error / deviation).max()  # 6 standard deviations
    assert deviation.max() < 0.05 * np.abs(expected).max()  # a tolerance that says something


@pytest.mark.parametrize("layer,shape", [(lambda: nn.Linear(30, 12), (10, 30)),
                                         (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 7, 7))])
def test_dynamic_quantization_uses_each_batch_range(layer, shape):
    ember.manual_seed(1)
    model = nn.Sequential(layer())
    x = ember.tensor(np.random.default_rng(6).normal(0, 1, shape).astype(np.float32))
    dynamic = quantize.quantize_dynamic(model, {nn.Linear, nn.Conv2d})
    assert dynamic[0].dynamic and not hasattr(dynamic[0], "input_scale")
    static = _calibrated(model[0], x)  # calibrated on this very batch: the grid the dynamic layer picks
    with ember.no_grad():
        np.testing.assert_array_equal(dynamic(x).numpy(), static(x).numpy())
        assert not np.array_equal(dynamic(x * 2).numpy(), static(x * 2).numpy())  # a new batch, a new grid


def test_quantized_layers_keep_the_attributes_the_report_counts():
    from ember.compress.report import count_flops
    model = ember.models.create("lenet")
    x = ember.randn(2, 1, 28, 28)
    int8_model = quantize.convert(quantize.calibrate(quantize.prepare(model), [x]))
    assert count_flops(int8_model, x) == count_flops(model, x) > 0


# ---- QAT ----------------------------------------------------------------------------------------

def test_prepared_state_dict_loads_into_a_freshly_prepared_model():
    ember.manual_seed(4)
    trained = quantize.prepare_qat(ember.models.create("lenet"))
    x = ember.randn(8, 1, 28, 28)
    trained(x)  # the observers record ranges (per channel for the weights)
    fresh = quantize.prepare_qat(ember.models.create("lenet"))
    fresh.load_state_dict(trained.state_dict())
    with ember.no_grad():
        np.testing.assert_array_equal(fresh.eval()(x).numpy(), trained.eval()(x).numpy())


def test_qat_linear_matches_pytorch_fake_quant_composition():
    ember.manual_seed(2)
    layer = quantize.prepare_qat(nn.Sequential(nn.Linear(6, 4)))[0]
    x = np.random.default_rng(7).normal(0, 1, (5, 6)).astype(np.float32)
    out = layer(ember.tensor(x))
    out.backward(ember.ones(5, 4))
    act, weight = layer.input_fake_quant, layer.weight_fake_quant
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(layer.weight.detach().numpy(), requires_grad=True)
    tb = torch.tensor(layer.bias.detach().numpy(), requires_grad=True)
    expected = torch.nn.functional.linear(
        torch.fake_quantize_per_tensor_affine(tx, float(act.scale.item()), int(act.zero_point.item()), -128, 127),
        torch.fake_quantize_per_channel_affine(tw, torch.tensor(weight.scale.numpy()),
                                               torch.tensor(weight.zero_point.numpy()), 0, -127, 127), tb)
    expected.backward(torch.ones(5, 4))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.weight.grad.numpy(), tw.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.bias.grad.numpy(), tb.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_qat_trains_the_float_parameters_and_converts_to_the_same_outputs():
    ember.manual_seed(3)
    model = quantize.prepare_qat(ember.models.create("lenet"))
    optimizer = ember.optim.SGD(model.parameters(), lr=0.05)
    x, y = ember.randn(16, 1, 28, 28), ember.tensor(np.arange(16) % 10)
    before = model.layers[0].weight.detach().numpy().copy()
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert not np.array_equal(before, model.layers[0].weight.detach().numpy())
    model.apply(quantize.disable_observer)  # freeze the grids: each fake-quant layer computes its int8 one
    int8_model = quantize.convert(model)
    h = x
    with ember.no_grad():
        for fake, real in zip(model.eval().layers, int8_model.layers):
            if isinstance(real, (quantize.QuantizedLinear, quantize.QuantizedConv2d)):
                # the same input: the same integers, summed in float32 on one side, exactly on the other
                expected = fake(h).numpy()
                np.testing.assert_allclose(real(h).numpy(), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
            h = fake(h)
    # along the whole model a float32 difference of 1e-7 can flip an input's rounding (one grid step)
    with ember.no_grad():
        np.testing.assert_allclose(int8_model(x).numpy(), h.numpy(), atol=0.02 * np.abs(h.numpy()).max())


def test_prepare_qat_copies_the_parameters_unless_inplace():
    model = ember.models.create("lenet")
    copied, in_place = quantize.prepare_qat(model), quantize.prepare_qat(model, inplace=True)
    assert copied.layers[0].weight is not model.layers[0].weight
    np.testing.assert_array_equal(copied.layers[0].weight.detach().numpy(), model.layers[0].weight.detach().numpy())
    assert in_place is model and isinstance(model.layers[0], quantize.QATConv2d)


class _ReportsCuda(ember.Tensor):
    """A cpu tensor that says it is on cuda: what the device checks read (no GPU here)."""
    device = property(lambda self: ember.device("cuda"))


@pytest.mark.parametrize("prepare", [quantize.prepare, quantize.prepare_qat], ids=lambda f: f.__name__)
def test_quantization_refuses_a_model_off_the_cpu(prepare):
    model = nn.Sequential(nn.Linear(2, 3))
    model[0].register_buffer("statistics", _ReportsCuda(np.zeros(2, np.float32)))
    with pytest.raises(RuntimeError, match=rf"{prepare.__name__}: quantization runs on the CPU, but "
                                           r"'0.statistics' is on cuda: move the model with .cpu\(\) first"):
        prepare(model)
    with pytest.raises(RuntimeError, match=r"FakeQuantize: quantization runs on the CPU, got an input on cuda"):
        quantize.FakeQuantize()(_ReportsCuda(np.zeros(2, np.float32)))


# ---- checkpoints --------------------------------------------------------------------------------

def test_checkpoint_is_4x_smaller_and_round_trips(tmp_path):
    model = ember.models.create("lenet")
    x = ember.randn(8, 1, 28, 28)
    int8_model = quantize.convert(quantize.calibrate(quantize.prepare(model), [x]))
    ember.save(model.state_dict(), tmp_path / "float.safetensors")
    ember.save(int8_model.state_dict(), tmp_path / "int8.safetensors")
    state = ember.load(tmp_path / "int8.safetensors")
    assert state["layers.0.weight"].dtype == ember.int8
    ratio = os.path.getsize(tmp_path / "float.safetensors") / os.path.getsize(tmp_path / "int8.safetensors")
    assert ratio >= 3.5
    loaded = quantize.load_quantized(ember.models.create("lenet"), state)
    with ember.no_grad():
        np.testing.assert_array_equal(loaded(x).numpy(), int8_model(x).numpy())
    dynamic = quantize.quantize_dynamic(model)
    ember.save(dynamic.state_dict(), tmp_path / "dynamic.safetensors")
    loaded = quantize.load_quantized(ember.models.create("lenet"), ember.load(tmp_path / "dynamic.safetensors"))
    assert loaded.layers[7].dynamic and type(loaded.layers[0]) is nn.Conv2d
    with ember.no_grad():
        np.testing.assert_array_equal(loaded(x).numpy(), dynamic(x).numpy())


# ---- errors -------------------------------------------------------------------------------------

def test_workflow_errors_name_the_fix():
    model = ember.models.create("lenet")
    with pytest.raises(ValueError, match=r"convert: the model has no prepared layers: call prepare\(model\)"):
        quantize.convert(model)
    with pytest.raises(ValueError, match="calibrate: the model has no prepared layers"):
        quantize.calibrate(model, [ember.randn(1, 1, 28, 28)])
    with pytest.raises(RuntimeError, match=r"convert: the input observer of 'layers.0' \(QATConv2d\) has seen no "
                                           r"data.*calibrate\(model, batches\)"):
        quantize.convert(quantize.prepare(model))
    with pytest.warns(UserWarning, match="leaving '1' in float: groups=2"):
        prepared = quantize.prepare(nn.Sequential(nn.Linear(2, 4), nn.Conv2d(4, 4, 1, groups=2)))
    assert type(prepared[1]) is nn.Conv2d
    with pytest.raises(ValueError, match="quantize_dynamic: can quantize Linear and Conv2d, not"):
        quantize.quantize_dynamic(model, {nn.ReLU})


def test_int8_layers_reject_bad_input_and_backward():
    x = ember.randn(4, 1, 28, 28)
    int8_model = quantize.convert(quantize.calibrate(quantize.prepare(ember.models.create("lenet")), [x]))
    with pytest.raises(TypeError, match="QuantizedConv2d: expected a float32 input, got float64"):
        int8_model(x.double())
    with pytest.raises(RuntimeError, match=r"QuantizedLinear: expected an input of shape \(\*, 400\), got \(4, 300\)"):
        int8_model.layers[7](ember.randn(4, 300))
    with pytest.raises(RuntimeError, match=r"QuantizedConv2d: expected an input of shape \(N, 1, H, W\)"):
        int8_model(ember.randn(4, 3, 28, 28))
    with pytest.raises(RuntimeError, match=r"QuantizedConv2d: the padded input \(4 x 7\) is smaller than the "
                                           r"dilated kernel \(5 x 5\)"):
        int8_model.layers[3](ember.randn(2, 6, 4, 7))
    with pytest.raises(RuntimeError, match=r"Quantized(Linear|Conv2d) runs inference only.*prepare_qat"):
        int8_model(x.requires_grad_()).sum().backward()


def test_example_runs_quick():
    script = pathlib.Path(__file__).resolve().parent.parent / "examples" / "quantize_lenet.py"
    result = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "int8 test accuracy" in result.stdout and "int8 (PTQ)" in result.stdout

