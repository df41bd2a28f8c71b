"""conv1d/2d/3d and conv_transpose1d/2d/3d against PyTorch (every stride/padding/dilation/groups
combination that changes the index arithmetic), finite differences and second derivatives; the
Conv and ConvTranspose modules against torch's with copied weights; init, repr and error messages."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn as enn
import ember.nn.functional as F
from op_check import TOLERANCES, OpCase, assert_close, parametrize_cases, randn

# torch warns that it copies the input for an asymmetric padding="same"; ember always pads
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel lengths")


def conv_samples(n, groups=1, kernel=3, transposed=False, low=4, high=6):
    """Inputs (x, weight, bias) of an n-d (transposed) convolution: random odd and even sizes,
    batch 2, batch 1 without bias, and an unbatched input. ``kernel``: an int or one per dim."""
    kernel = (kernel,) * n if isinstance(kernel, int) else kernel

    def samples(rng, dtype):
        per_in, per_out = (int(c) for c in rng.integers(1, 3, 2))
        c_in, c_out = groups * per_in, groups * per_out
        # a conv's weight is (out, in / groups, *k); a transposed conv's (in, out / groups, *k)
        w_shape = (c_in, per_out) if transposed else (c_out, per_in)

        def sizes():
            return tuple(int(s) for s in rng.integers(low, high + 1, n))
        return [[randn(rng, dtype, 2, c_in, *sizes()), randn(rng, dtype, *w_shape, *kernel), randn(rng, dtype, c_out)],
                [randn(rng, dtype, 1, c_in, *sizes()), randn(rng, dtype, *w_shape, *kernel), None],
                [randn(rng, dtype, c_in, *sizes()), randn(rng, dtype, *w_shape, *kernel), randn(rng, dtype, c_out)]]
    return samples


def case(name, kernel=3, groups=1, low=4, high=6, **kwargs):
    """An OpCase of ``name`` (e.g. 'conv_transpose2d') with its samples; ``kwargs`` go to the op."""
    n, transposed = int(name[-2]), "transpose" in name
    if groups != 1:
        kwargs["groups"] = groups
    return OpCase(name, conv_samples(n, groups, kernel, transposed, low, high), ember_fn=getattr(F, name),
                  torch_fn=getattr(TF, name), kwargs=kwargs)


CASES = [
    case("conv1d"),
    case("conv1d", kernel=4, stride=2, padding=2, dilation=2),
    case("conv1d", groups=2, padding="same", dilation=2),
    case("conv1d", groups=3, kernel=1, stride=3),
    case("conv2d"),
    case("conv2d", stride=2, padding=1),
    case("conv2d", kernel=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
    case("conv2d", kernel=(2, 3), padding="same", dilation=(3, 2)),
    case("conv2d", kernel=(4, 3), padding="valid", stride=(1, 3)),
    case("conv2d", groups=2, padding=1),
    case("conv2d", kernel=1, stride=2),
    case("conv3d", kernel=2, low=2, high=4),
    case("conv3d", kernel=(2, 1, 3), groups=2, low=3, high=4, stride=(2, 1, 1), padding=(1, 0, 1), dilation=(1, 2, 1)),
    case("conv_transpose1d"),
    case("conv_transpose1d", kernel=2, groups=2, stride=3, padding=1, output_padding=2),
    case("conv_transpose2d"),
    case("conv_transpose2d", kernel=(3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2)),
    # output_padding may reach up to the dilation when that is larger than the stride
    case("conv_transpose2d", groups=2, padding=2, output_padding=1, dilation=2),
    case("conv_transpose2d", kernel=1, stride=2),
    case("conv_transpose3d", kernel=2, low=2, high=3, stride=2, padding=1, output_padding=1),
]

# depthwise: groups = in_channels, a channel multiplier of 2
DEPTHWISE = [OpCase("conv2d", lambda rng, dtype: [[randn(rng, dtype, 2, 3, 6, 5), randn(rng, dtype, 6, 1, 3, 3),
                                                   randn(rng, dtype, 6)]],
                    kwargs={"groups": 3, "padding": 1, "stride": (1, 2)}),
             OpCase("conv_transpose2d", lambda rng, dtype: [[randn(rng, dtype, 2, 3, 4, 3),
                                                             randn(rng, dtype, 3, 2, 3, 3), randn(rng, dtype, 6)]],
                    kwargs={"groups": 3, "stride": 2})]
CASES += DEPTHWISE

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


def leaf(*shape, seed=0):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# ---- second derivatives --------------------------------------------------------------------------

@pytest.mark.parametrize("name, kwargs, shapes", [
    ("conv2d", dict(stride=2, padding=1, groups=2), [(2, 4, 5, 4), (2, 2, 3, 2), (2,)]),
    ("conv1d", dict(padding="same", dilation=2), [(1, 2, 5), (3, 2, 2), (3,)]),
    ("conv_transpose2d", dict(stride=2, padding=1, output_padding=1, groups=2), [(1, 4, 3, 2), (4, 1, 3, 2), (2,)]),
])
def test_double_backward(name, kwargs, shapes):
    inputs = [leaf(*s, seed=i) for i, s in enumerate(shapes)]
    assert ember.autograd.gradgradcheck(lambda *a: getattr(F, name)(*a, **kwargs), inputs)


def test_double_backward_matches_torch():
    """A gradient penalty: the gradient of |d loss / d x|^2 in the weight goes through backward's backward."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    results = []
    for lib, fn in ((ember, F.conv2d), (torch, TF.conv2d)):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        out = fn(xt, wt, stride=2, padding=1).tanh().sum()
        (gx,) = lib.autograd.grad(out, [xt], create_graph=True)
        results.append(lib.autograd.grad((gx * gx).sum(), [wt])[0].detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-10)


def test_double_backward_through_output_padding_past_the_stride():
    """conv_transpose's output_padding may exceed the stride (when below the dilation): the input of the
    convolution in its backward then reaches past the last window, which the conv2d kernels must skip."""
    inputs = [leaf(1, 2, 3, 4, seed=0), leaf(2, 2, 2, 3, seed=1)]
    assert ember.autograd.gradgradcheck(
        lambda y, w: F.conv_transpose2d(y, w, dilation=(3, 2), output_padding=(2, 1)), inputs)


# ---- the conv2d kernels --------------------------------------------------------------------------

KERNEL_CALLS = [
    ("conv1d", (3, 4, 9), (6, 2, 3), dict(stride=2, padding=2, dilation=2, groups=2)),
    ("conv2d", (2, 3, 7, 6), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ("conv2d", (2, 4, 5, 5), (6, 2, 1, 1), dict(stride=2, groups=2)),
    ("conv_transpose1d", (2, 4, 5), (4, 3, 2), dict(stride=3, padding=1, output_padding=2)),
    ("conv_transpose2d", (1, 2, 3, 4), (2, 3, 3, 2), dict(stride=2, padding=1, output_padding=1, dilation=(1, 2))),
    ("conv_transpose2d", (2, 2, 3, 3), (2, 2, 2, 2), dict(dilation=3, output_padding=2)),
]


def _conv_and_grads(name, arrays, kwargs):
    x, w, b = (ember.tensor(a, requires_grad=True) for a in arrays)
    out = getattr(F, name)(x, w, b, **kwargs)
    (out * out).sum().backward()
    return [t.detach().numpy() for t in (out, x.grad, w.grad, b.grad)]


@pytest.mark.parametrize("name, x_shape, w_shape, kwargs", KERNEL_CALLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_conv_kernel_implementation_gives_the_same_op(name, x_shape, w_shape, kwargs, dtype):
    rng = np.random.default_rng(0)
    channels = w_shape[1] * kwargs.get("groups", 1) if "transpose" in name else w_shape[0]
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in (x_shape, w_shape, (channels,))]
    results = {}
    for implementation in ember.kernels.names("conv2d_forward", "cpu"):
        with ember.kernels.use(conv2d=implementation):
            results[implementation] = _conv_and_grads(name, arrays, kwargs)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    for implementation, outputs in results.items():
        for got, expected in zip(outputs, results["numpy"]):
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol, err_msg=implementation)


def test_float_1d_and_2d_convolutions_and_only_they_run_on_the_conv2d_kernels():
    double = ember.float64
    with ember.kernels.use(conv2d="missing"):
        for call in (lambda: F.conv1d(ember.randn(1, 2, 5), ember.randn(3, 2, 2)),
                     lambda: F.conv2d(ember.randn(1, 2, 5, 5, dtype=double), ember.randn(3, 2, 2, 2, dtype=double)),
                     lambda: F.conv_transpose2d(ember.randn(1, 2, 5, 5), ember.randn(2, 3, 2, 2))):
            with pytest.raises(RuntimeError, match="kernel 'conv2d_.*' has no implementation 'missing'"):
                call()
        F.conv3d(ember.randn(1, 2, 3, 3, 3), ember.randn(3, 2, 2, 2, 2))
        F.conv2d(ember.ones(1, 2, 4, 4, dtype=ember.int64), ember.ones(3, 2, 2, 2, dtype=ember.int64))


def test_grad_fn_and_weight_only_gradient():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    ew, tw = ember.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    out = F.conv2d(ember.tensor(x), ew, stride=2)
    assert out.grad_fn.name() == "ConvolutionBackward"
    out.sum().backward()
    TF.conv2d(torch.tensor(x), tw, stride=2).sum().backward()
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_integer_and_empty_batch_inputs():
    x, w = np.arange(2 * 2 * 4 * 4).reshape(2, 2, 4, 4), np.arange(3 * 2 * 2 * 2).reshape(3, 2, 2, 2) - 10
    out = F.conv2d(ember.tensor(x), ember.tensor(w), stride=2)
    assert out.dtype == ember.int64
    np.testing.assert_array_equal(out.numpy(), TF.conv2d(torch.tensor(x), torch.tensor(w), stride=2).numpy())
    empty = F.conv2d(ember.zeros(0, 2, 5, 5), ember.randn(3, 2, 3, 3), padding=1)
    assert empty.shape == (0, 3, 5, 5)
    assert F.conv_transpose2d(ember.zeros(0, 2, 3, 3), ember.randn(2, 3, 3, 3), stride=2).shape == (0, 3, 7, 7)


# ---- errors --------------------------------------------------------------------------------------

def test_functional_errors():
    x = ember.randn(2, 4, 8, 8)
    errors = [
        (lambda: F.conv2d(ember.randn(2, 3), ember.randn(6, 3, 3, 3)),
         r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[2, 3\]"),
        (lambda: F.conv1d(x, ember.randn(6, 4, 3)),
         r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d, but got input of size: \[2, 4, 8, 8\]"),
        (lambda: F.conv2d(x, ember.randn(6, 3, 3, 3)),
         r"Given groups=1, weight of size \[6, 3, 3, 3\], expected input\[2, 4, 8, 8\] to have 3 channels, "
         r"but got 4 channels instead"),
        (lambda: F.conv2d(x, ember.randn(6, 2, 3, 3), groups=3),
         r"Given groups=3, weight of size \[6, 2, 3, 3\], expected input\[2, 4, 8, 8\] to have 6 channels"),
        (lambda: F.conv2d(x, ember.randn(5, 2, 3, 3), groups=2),
         r"Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size "
         r"\[5, 2, 3, 3\] instead"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 9, 9)),
         r"Calculated padded input size per channel: \(8 x 8\). Kernel size: \(9 x 9\). Kernel size can't be "
         r"greater than actual input size"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), dilation=4),
         r"Calculated padded input size per channel: \(8 x 8\). Kernel size: \(9 x 9\)"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), padding="same", stride=2),
         "padding='same' is not supported for strided convolutions"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), padding="foo"), "Invalid padding string: 'foo'"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), padding=-1), "negative padding is not supported"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), stride=0), "non-positive stride is not supported"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), dilation=(1, 0)), "non-positive dilation is not supported"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), groups=0), "non-positive groups is not supported"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), stride=(1, 2, 3)),
         r"expected stride to be a single integer value or a list of 2 values to match the convolution "
         r"dimensions, but got stride=\[1, 2, 3\]"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3), ember.randn(5)),
         r"Given weight of size \[6, 4, 3, 3\], expected bias to be 1-dimensional with 6 elements, but got "
         r"bias of size \[5\] instead"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3, 3, dtype=ember.float64)),
         r"conv2d: Input type \(ember.float32\) and weight type \(ember.float64\) should be the same"),
        (lambda: F.conv2d(x, ember.randn(6, 4, 3)), r"conv2d: expected weight to be 4-dimensional"),
        (lambda: F.conv_transpose2d(x, ember.randn(4, 3, 3, 3), output_padding=1),
         "output padding must be smaller than either stride or dilation"),
        (lambda: F.conv_transpose2d(x, ember.randn(3, 3, 3, 3)),
         r"Given transposed=1, weight of size \[3, 3, 3, 3\], expected input\[2, 4, 8, 8\] to have 3 channels, "
         r"but got 4 channels instead"),
        (lambda: F.conv_transpose2d(x, ember.randn(4, 3, 3, 3), groups=3),
         "Given groups=3, expected weight to be divisible by 3 at dimension 0"),
        (lambda: F.conv_transpose2d(x, ember.randn(4, 3, 3, 3), padding=6), "conv_transpose2d: the output size"),
    ]
    for call, message in errors:
        with pytest.raises(RuntimeError, match=message):
            call()
    with pytest.raises(TypeError, match="conv_transpose2d\\(\\): argument 'padding' must be tuple of ints, not str"):
        F.conv_transpose2d(x, ember.randn(4, 3, 3, 3), padding="same")
    with pytest.raises(TypeError, match="conv2d\\(\\): argument 'input' must be Tensor, not ndarray"):
        F.conv2d(x.numpy(), ember.randn(6, 4, 3, 3))


# ---- modules -------------------------------------------------------------------------------------

EMBER_DTYPES = {np.float32: ember.float32, np.float64: ember.float64}
TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def check_module(make, x, dtype, forward_kwargs=None):
    """``make(nn)`` in both libraries, torch's weights copied into ember's: output, input gradient and
    parameter gradients equal, in train and eval mode."""
    tm, em = make(torch.nn).to(TORCH_DTYPES[dtype]), make(enn).to(EMBER_DTYPES[dtype])
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    tol = TOLERANCES[dtype]
    for train in (True, False):
        em.train(train), tm.train(train)
        ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        e_out, t_out = em(ex, **(forward_kwargs or {})), tm(tx, **(forward_kwargs or {}))
        assert_close(e_out, t_out, what="output", **tol)
        seed = np.random.default_rng(0).standard_normal(tuple(t_out.shape)).astype(dtype)
        em.zero_grad(), tm.zero_grad()
        e_out.backward(ember.tensor(seed)), t_out.backward(torch.tensor(seed))
        assert_close(ex.grad, tx.grad, what="input grad", **tol)
        e_params = dict(em.named_parameters())
        for name, t in tm.named_parameters():
            assert_close(e_params[name].grad, t.grad, what=f"grad of {name}", **tol)
    return em, tm


MODULES = [
    (lambda nn: nn.Conv2d(3, 4, 3), (2, 3, 9, 7)),
    (lambda nn: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2, bias=False), (1, 4, 8, 7)),
    (lambda nn: nn.Conv2d(2, 4, 3, padding="same", padding_mode="reflect"), (2, 2, 5, 6)),
    (lambda nn: nn.Conv2d(2, 2, 3, stride=2, padding=2, padding_mode="circular"), (1, 2, 5, 6)),
    (lambda nn: nn.Conv2d(2, 3, 2, padding=(1, 2), padding_mode="replicate"), (2, 5, 5)),
    (lambda nn: nn.Conv2d(3, 3, 3, groups=3, padding="same"), (2, 3, 6, 5)),
    (lambda nn: nn.Conv1d(3, 5, 4, stride=2, padding=1), (3, 3, 11)),
    (lambda nn: nn.Conv1d(2, 4, 3, padding="same", padding_mode="reflect", dilation=2), (2, 7)),
    (lambda nn: nn.Conv3d(2, 2, 2, padding=1), (1, 2, 3, 4, 3)),
    (lambda nn: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
    (lambda nn: nn.ConvTranspose2d(4, 2, (2, 3), groups=2, dilation=(2, 1), bias=False), (1, 4, 3, 3)),
    (lambda nn: nn.ConvTranspose1d(2, 3, 3, stride=3), (2, 2, 5)),
    (lambda nn: nn.ConvTranspose3d(2, 2, 2, stride=2), (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("index", range(len(MODULES)))
def test_module_matches_torch(index, dtype):
    make, shape = MODULES[index]
    check_module(make, np.random.default_rng(index).standard_normal(shape).astype(dtype), dtype)


def test_conv_transpose_output_size():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    for size in ((8, 10), (2, 4, 7, 9), (8, 9)):
        check_module(lambda nn: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1), x, np.float64,
                     forward_kwargs={"output_size": size})
    module = enn.ConvTranspose2d(3, 4, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"requested an output size of \(30, 30\), but valid sizes range from "
                                         r"\[7, 9\] to \[8, 10\] \(for an input of \(4, 5\)\)"):
        module(ember.tensor(x), output_size=(30, 30))
    with pytest.raises(ValueError, match=r"ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements "
                                         r"\(got 3\)"):
        module(ember.tensor(x), output_size=(2, 9, 9))


@pytest.mark.parametrize("make", [lambda nn: nn.Conv2d(6, 32, (3, 5), groups=2),
                                  lambda nn: nn.ConvTranspose2d(6, 30, 3, groups=3),
                                  lambda nn: nn.Conv1d(16, 8, 7)])
def test_default_init_is_torchs(make):
    """kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both weight and bias, with
    fan_in = weight.shape[1] * prod(kernel_size)."""
    ember.manual_seed(0)
    module = make(enn)
    weight, bias = module.weight.detach().numpy(), module.bias.detach().numpy()
    bound = 1 / math.sqrt(math.prod(weight.shape[1:]))
    assert weight.shape == tuple(make(torch.nn).weight.shape) and weight.dtype == np.float32
    for values in (weight, bias):
        assert np.abs(values).max() <= bound
    assert np.abs(weight).max() > 0.95 * bound  # thousands of draws reach the edge
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.05 * bound  # U(-b, b) has std b / sqrt(3)
    assert abs(weight.mean()) < 4 * bound / math.sqrt(3 * weight.size)  # 4 standard errors


def test_module_options_repr_and_state_dict():
    cases = [lambda nn: nn.Conv2d(4, 8, (3, 5), stride=2, padding=1, dilation=(1, 2), groups=2, bias=False,
                                  padding_mode="reflect"),
             lambda nn: nn.Conv2d(4, 8, 3), lambda nn: nn.Conv1d(4, 8, 3, padding="same"),
             lambda nn: nn.Conv3d(2, 4, 3, padding="valid"),
             lambda nn: nn.ConvTranspose2d(4, 8, 3, stride=2, output_padding=1, dilation=2),
             lambda nn: nn.ConvTranspose1d(4, 8, 3, bias=False)]
    for make in cases:
        em, tm = make(enn), make(torch.nn)
        assert repr(em) == repr(tm)
        assert {k: tuple(v.shape) for k, v in em.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in tm.state_dict().items()}
        for name in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                     "transposed", "output_padding", "padding_mode", "_reversed_padding_repeated_twice"):
            assert getattr(em, name) == getattr(tm, name), name
    module = enn.Conv2d(2, 4, 3, dtype=ember.float64)
    assert module.weight.dtype == ember.float64 and module.bias.dtype == ember.float64


def test_module_errors():
    errors = [
        (lambda: enn.Conv2d(3, 4, 3, groups=2), "in_channels must be divisible by groups"),
        (lambda: enn.Conv2d(4, 3, 3, groups=2), "out_channels must be divisible by groups"),
        (lambda: enn.Conv2d(4, 4, 3, groups=0), "groups must be a positive integer"),
        (lambda: enn.Conv2d(4, 4, 3, padding="foo"), "Invalid padding string 'foo', should be one of"),
        (lambda: enn.Conv2d(4, 4, 3, padding="same", stride=2),
         "padding='same' is not supported for strided convolutions"),
        (lambda: enn.Conv2d(4, 4, 3, padding_mode="foo"), "padding_mode must be one of .*, but got padding_mode='foo'"),
        (lambda: enn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"),
         'Only "zeros" padding mode is supported for ConvTranspose2d'),
    ]
    for call, message in errors:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(RuntimeError, match=r"Given groups=1, weight of size \[4, 4, 3, 3\], expected input"
                                           r"\[2, 3, 5, 5\] to have 4 channels"):
        enn.Conv2d(4, 4, 3)(ember.randn(2, 3, 5, 5))


def test_lenet_shaped_network_trains_like_torch():
    """Conv, pool and linear layers together: one SGD step from the same weights gives the same loss
    and parameters."""
    def make(nn):
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 10))
    tm, em = make(torch.nn).double(), make(enn).double()
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((4, 1, 28, 28)), rng.integers(0, 10, 4)
    losses = []
    for lib, model, fn in ((ember, em, F.cross_entropy), (torch, tm, TF.cross_entropy)):
        loss = fn(model(lib.tensor(x)), lib.tensor(labels))
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-10)
    tparams = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-8, atol=1e-12)
