"""The basic layers of ember.nn (linear, activations, dropout, losses, embedding), ember.nn.init and
ember.nn.utils against PyTorch: each module is built in both libraries with the same arguments,
torch's weights are copied into ember's, and outputs, input gradients and parameter gradients are
compared; default initialisation and the init functions are compared by their statistics (bounds,
std), not by samples."""
import math
import warnings

import numpy as np
import pytest
import torch

import ember
import ember.nn as enn
from ember.nn import init as einit
from ember.nn import utils as eutils
from op_check import TOLERANCES, assert_close

DTYPES = [np.float32, np.float64]
TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}
EMBER_DTYPES = {np.float32: ember.float32, np.float64: ember.float64}


def copy_weights(ember_module, torch_module):
    ember_module.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in
                                  torch_module.state_dict().items()})


def check_module(make, inputs, dtype, train=True, inplace=False, seed=0, rtol=None):
    """Build ``make(nn)`` in both libraries, copy torch's weights into ember's and compare the output,
    the gradient of every float input and of every parameter for a random output gradient.
    ``inputs``: NumPy arrays (float ones are differentiable). ``inplace``: the module gets
    ``input * 1`` (a non-leaf it may overwrite). Returns (ember module, torch module)."""
    tm = make(torch.nn).to(TORCH_DTYPES[dtype]).train(train)
    em = make(enn).to(EMBER_DTYPES[dtype]).train(train)
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_weights(em, tm)
    tol = dict(TOLERANCES[dtype])
    if rtol is not None:
        tol["rtol"] = rtol
    e_in = [ember.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    feed = (lambda xs: [x * 1 for x in xs]) if inplace else (lambda xs: xs)
    e_out, t_out = em(*feed(e_in)), tm(*feed(t_in))
    assert_close(e_out, t_out, what="output", **tol)
    if t_out.requires_grad:
        seed_grad = np.random.default_rng(seed).standard_normal(tuple(t_out.shape)).astype(dtype)
        e_out.backward(ember.tensor(seed_grad))
        t_out.backward(torch.tensor(seed_grad))
        for i, (e, t) in enumerate(zip(e_in, t_in)):
            if t.requires_grad:
                assert_close(e.grad, t.grad, what=f"grad of input {i}", **tol)
        e_params = dict(em.named_parameters())
        for name, t in tm.named_parameters():
            if t.requires_grad:
                assert_close(e_params[name].grad, t.grad, what=f"grad of {name}", **tol)
    return em, tm


def shapes(seed, ndim=2, low=1, high=6):
    """Random shapes with odd sizes, and a batch of 1."""
    rng = np.random.default_rng(seed)
    return [tuple(int(s) for s in rng.integers(low, high + 1, ndim)), (1,) + (3,) * (ndim - 1)]


def randn(*shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- linear, bilinear, identity, flatten ------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, bias):
    for n, i in shapes(1):
        o = 2 * i + 1
        check_module(lambda nn: nn.Linear(i, o, bias=bias), [randn(n, i, dtype=dtype)], dtype)
        check_module(lambda nn: nn.Linear(i, o, bias=bias), [randn(2, n, i, dtype=dtype)], dtype)
        check_module(lambda nn: nn.Linear(i, o, bias=bias), [randn(i, dtype=dtype)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear_matches_torch(dtype):
    for bias in (True, False):
        check_module(lambda nn: nn.Bilinear(3, 4, 5, bias=bias),
                     [randn(7, 3, dtype=dtype), randn(7, 4, dtype=dtype, seed=1)], dtype)
    check_module(lambda nn: nn.Bilinear(2, 1, 3), [randn(2, 3, 2, dtype=dtype), randn(2, 3, 1, dtype=dtype)], dtype)


def test_bilinear_shape_errors():
    layer = enn.Bilinear(3, 4, 5)
    with pytest.raises(RuntimeError, match="same batch dimensions"):
        layer(ember.randn(2, 3), ember.randn(3, 4))
    with pytest.raises(RuntimeError, match=r"expected input1 \(\*, 3\) and input2 \(\*, 4\)"):
        layer(ember.randn(2, 4), ember.randn(2, 4))


@pytest.mark.parametrize("make, shape", [
    (lambda nn: nn.Identity(54, unused="x"), (2, 3)),
    (lambda nn: nn.Flatten(), (2, 3, 4, 5)),
    (lambda nn: nn.Flatten(0, 2), (2, 3, 4, 5)),
    (lambda nn: nn.Flatten(-3, -2), (2, 3, 4, 5)),
    (lambda nn: nn.Unflatten(1, (2, 3)), (4, 6, 5)),
    (lambda nn: nn.Unflatten(-1, (-1, 2)), (4, 6)),
    (lambda nn: nn.Unflatten(0, [1, 4]), (4, 6)),
])
def test_reshaping_modules_match_torch(make, shape):
    em, tm = check_module(make, [randn(*shape)], np.float64)
    assert repr(em) == repr(tm)


def test_unflatten_argument_errors():
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints, but found type int"):
        enn.Unflatten(1, 6)
    with pytest.raises(TypeError, match="found element of type float at pos 1"):
        enn.Unflatten(1, (2, 3.0))


def test_linear_default_init_is_torchs():
    ember.manual_seed(0), torch.manual_seed(0)
    for in_features, out_features in [(200, 300), (37, 1000)]:
        layer = enn.Linear(in_features, out_features)
        reference = torch.nn.Linear(in_features, out_features)
        bound = 1 / math.sqrt(in_features)
        weight, bias = layer.weight.detach().numpy(), layer.bias.detach().numpy()
        assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.99 * bound
        assert np.abs(bias).max() <= bound
        # U(-b, b) has std b / sqrt(3); torch's own weights agree
        assert weight.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
        assert weight.std() == pytest.approx(reference.weight.std().item(), rel=0.04)
        assert abs(weight.mean()) < 0.01 * bound * 10
    assert enn.Linear(3, 4, bias=False).bias is None
    assert enn.Linear(3, 4, dtype=ember.float64).weight.dtype == ember.float64


def test_bilinear_and_embedding_and_prelu_default_init():
    ember.manual_seed(0), torch.manual_seed(0)
    layer = enn.Bilinear(50, 20, 40)
    bound = 1 / math.sqrt(50)
    for p in (layer.weight, layer.bias):
        a = p.detach().numpy()
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound
    weight = enn.Embedding(400, 50).weight.detach().numpy()
    assert weight.std() == pytest.approx(1.0, rel=0.03) and abs(weight.mean()) < 0.03
    padded = enn.Embedding(10, 4, padding_idx=-3).weight.detach().numpy()
    assert (padded[7] == 0).all() and (padded[:7] != 0).all()
    assert (enn.PReLU(3).weight.detach().numpy() == 0.25).all()
    assert (enn.PReLU(init=-0.5).weight.detach().numpy() == -0.5).all()


def test_state_dict_keys_and_reprs_match_torch():
    makers = [lambda nn: nn.Linear(3, 4), lambda nn: nn.Linear(3, 4, bias=False),
              lambda nn: nn.Bilinear(2, 3, 4, bias=False), lambda nn: nn.PReLU(5),
              lambda nn: nn.Embedding(5, 3, padding_idx=2, max_norm=1.0, norm_type=1.0,
                                      scale_grad_by_freq=True),
              lambda nn: nn.Embedding(5, 3, sparse=True), lambda nn: nn.Dropout(0.2),
              lambda nn: nn.Hardtanh(-2, 3, True), lambda nn: nn.Softmax(), lambda nn: nn.GELU("tanh"),
              lambda nn: nn.CrossEntropyLoss(), lambda nn: nn.Softshrink(0.3), lambda nn: nn.Softmax2d()]
    for make in makers:
        em, tm = make(enn), make(torch.nn)
        assert repr(em) == repr(tm)
        assert list(em.state_dict()) == list(tm.state_dict())
        assert [(k, tuple(v.shape)) for k, v in em.state_dict().items()] == \
               [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]


# ---- activations -------------------------------------------------------------------------------------

ACTIVATIONS = [
    lambda nn: nn.ReLU(), lambda nn: nn.ReLU6(), lambda nn: nn.LeakyReLU(), lambda nn: nn.LeakyReLU(0.2),
    lambda nn: nn.ELU(), lambda nn: nn.ELU(0.5), lambda nn: nn.SELU(), lambda nn: nn.CELU(1.5),
    lambda nn: nn.GELU(), lambda nn: nn.GELU("tanh"), lambda nn: nn.SiLU(), lambda nn: nn.Mish(),
    lambda nn: nn.Softplus(), lambda nn: nn.Softplus(2.0, 3.0), lambda nn: nn.Hardtanh(),
    lambda nn: nn.Hardtanh(-0.5, 2.0), lambda nn: nn.Hardsigmoid(), lambda nn: nn.Hardswish(),
    lambda nn: nn.LogSigmoid(), lambda nn: nn.Softsign(), lambda nn: nn.Tanh(), lambda nn: nn.Sigmoid(),
    lambda nn: nn.Softmax(1), lambda nn: nn.Softmax(-1), lambda nn: nn.LogSoftmax(0), lambda nn: nn.Softmin(1),
    lambda nn: nn.Threshold(0.1, 20.0), lambda nn: nn.Hardshrink(0.3), lambda nn: nn.Softshrink(),
    lambda nn: nn.Tanhshrink(), lambda nn: nn.Softmax2d(), lambda nn: nn.PReLU(), lambda nn: nn.PReLU(3),
    lambda nn: nn.PReLU(3, init=-0.1), lambda nn: nn.Dropout(0.3),
]

INPLACE_ACTIVATIONS = [
    lambda nn: nn.ReLU(inplace=True), lambda nn: nn.ReLU6(True), lambda nn: nn.LeakyReLU(0.1, True),
    lambda nn: nn.ELU(0.7, True), lambda nn: nn.SELU(True), lambda nn: nn.CELU(2.0, True),
    lambda nn: nn.SiLU(True), lambda nn: nn.Mish(True), lambda nn: nn.Hardtanh(-1.5, 0.5, True),
    lambda nn: nn.Hardsigmoid(True), lambda nn: nn.Hardswish(True), lambda nn: nn.Threshold(0.2, -1.0, True),
]


def _activation_input(dtype, seed):
    a, b, c = np.random.default_rng(seed).integers(1, 6, 3)
    # spread over the kinks of every activation (|x| up to ~4), softplus' threshold included
    return (randn(a, 3, b, c, seed=seed) * 2.5).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", ACTIVATIONS, ids=lambda make: repr(make(torch.nn)))
def test_activation_modules_match_torch(make, dtype):
    x = _activation_input(dtype, seed=len(repr(make(torch.nn))))
    # Dropout is compared in eval mode (the identity): its training masks come from another RNG
    em, tm = check_module(make, [x], dtype, train=not isinstance(make(torch.nn), torch.nn.Dropout))
    assert repr(em) == repr(tm)
    check_module(make, [x[:1, :, :1, 0]], dtype, train=False)  # (1, 3, 1) and eval mode


@pytest.mark.parametrize("make", INPLACE_ACTIVATIONS, ids=lambda make: repr(make(torch.nn)))
def test_inplace_activations_match_torch(make):
    em, tm = check_module(make, [_activation_input(np.float64, seed=3)], np.float64, inplace=True)
    assert repr(em) == repr(tm)
    x = ember.randn(4, 5)
    assert em(x) is x  # in place: the input itself comes back, overwritten


def test_softmax_implicit_dim_warns_like_torch():
    for shape in [(5,), (2, 5), (2, 3, 4), (2, 3, 4, 5)]:
        x = randn(*shape)
        for name, function in (("Softmax", "softmax"), ("LogSoftmax", "log_softmax"), ("Softmin", "softmin")):
            with pytest.warns(UserWarning, match=f"Implicit dimension choice for {function} has"):
                out = getattr(enn, name)()(ember.tensor(x))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = getattr(torch.nn, name)()(torch.tensor(x))
            assert_close(out, expected, rtol=1e-12, atol=1e-12, what=f"{name} {shape}")


def test_activation_argument_errors():
    with pytest.raises(AssertionError, match=r"max_val \(1\) must be greater than min_val \(2\)"):
        enn.Hardtanh(2, 1)
    with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
        assert enn.Hardtanh(min_value=-3).min_val == -3
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        enn.Dropout(1.5)
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"):
        enn.Softmax2d()(ember.randn(3, 4))


# ---- dropout -----------------------------------------------------------------------------------------

def test_dropout_statistics_and_modes():
    ember.manual_seed(0)
    layer = enn.Dropout(0.3)
    x = ember.ones(200, 500, requires_grad=True)
    y = layer(x)
    values = y.detach().numpy()
    kept = values != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(values[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # d(x * mask)/dx = mask
    layer.eval()
    x = ember.randn(3, 4)
    assert layer(x) is x
    ember.manual_seed(5)
    first = enn.Dropout(0.5)(ember.ones(10, 10)).numpy()
    ember.manual_seed(5)
    np.testing.assert_array_equal(first, enn.Dropout(0.5)(ember.ones(10, 10)).numpy())
    assert (enn.Dropout(1.0)(ember.ones(4, 4)).numpy() == 0).all()
    x = ember.ones(4, 4)
    assert enn.Dropout(0.0)(x) is x
    z = ember.ones(50, 50)
    out = enn.Dropout(0.5, inplace=True)(z)
    assert out is z and set(np.unique(z.numpy())) <= {0.0, 2.0}


# ---- losses --------------------------------------------------------------------------------------------

def _probabilities(rng, *shape):
    return rng.uniform(0.02, 0.98, shape)


def _loss_cases():
    """(name, make(nn, T), inputs): T turns a NumPy array into the library's tensor."""
    rng = np.random.default_rng(7)
    n, c, d = 5, 4, 3
    weight = rng.uniform(0.5, 2.0, c)
    logits, indices = rng.standard_normal((n, c)), rng.integers(0, c, n)
    indices_with_ignored = indices.copy()
    indices_with_ignored[1] = 1  # ignore_index below
    regression = [rng.standard_normal((n, d)), rng.standard_normal((n, d))]
    cases = []
    for reduction in ("mean", "sum", "none"):
        cases += [
            (f"l1-{reduction}", lambda nn, T, r=reduction: nn.L1Loss(reduction=r), regression),
            (f"mse-{reduction}", lambda nn, T, r=reduction: nn.MSELoss(reduction=r), regression),
            (f"smoothl1-{reduction}", lambda nn, T, r=reduction: nn.SmoothL1Loss(reduction=r, beta=0.5), regression),
            (f"huber-{reduction}", lambda nn, T, r=reduction: nn.HuberLoss(reduction=r, delta=0.7), regression),
            (f"nll-{reduction}", lambda nn, T, r=reduction: nn.NLLLoss(weight=T(weight), ignore_index=1, reduction=r),
             [logits - np.log(np.exp(logits).sum(1, keepdims=True)), indices_with_ignored]),
            (f"ce-{reduction}", lambda nn, T, r=reduction: nn.CrossEntropyLoss(reduction=r), [logits, indices]),
            (f"ce-weight-smoothing-{reduction}", lambda nn, T, r=reduction: nn.CrossEntropyLoss(
                weight=T(weight), label_smoothing=0.1, reduction=r), [logits, indices]),
            (f"bce-{reduction}", lambda nn, T, r=reduction: nn.BCELoss(weight=T(rng.uniform(0.5, 2, d)), reduction=r),
             [_probabilities(rng, n, d), rng.uniform(0, 1, (n, d))]),
            (f"bce-logits-{reduction}", lambda nn, T, r=reduction: nn.BCEWithLogitsLoss(
                weight=T(rng.uniform(0.5, 2, d)), pos_weight=T(rng.uniform(0.5, 3, d)), reduction=r),
             [rng.standard_normal((n, d)) * 3, rng.uniform(0, 1, (n, d))]),
        ]
    cases += [
        ("ce-spatial", lambda nn, T: nn.CrossEntropyLoss(ignore_index=0), [rng.standard_normal((2, c, 3, 2)),
                                                                          rng.integers(0, c, (2, 3, 2))]),
        ("ce-probabilities", lambda nn, T: nn.CrossEntropyLoss(label_smoothing=0.2),
         [logits, rng.dirichlet(np.ones(c), n)]),
        ("bce-logits-plain", lambda nn, T: nn.BCEWithLogitsLoss(), [rng.standard_normal((1, 7)),
                                                                   rng.integers(0, 2, (1, 7)).astype(float)]),
        ("kl-batchmean", lambda nn, T: nn.KLDivLoss(reduction="batchmean"),
         [np.log(rng.dirichlet(np.ones(c), n)), rng.dirichlet(np.ones(c), n)]),
        ("kl-log-target", lambda nn, T: nn.KLDivLoss(reduction="sum", log_target=True),
         [np.log(rng.dirichlet(np.ones(c), n)), np.log(rng.dirichlet(np.ones(c), n))]),
    ]
    return cases


LOSS_CASES = _loss_cases()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, make, inputs", LOSS_CASES, ids=[case[0] for case in LOSS_CASES])
def test_loss_modules_match_torch(name, make, inputs, dtype):
    inputs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
    inputs[1:] = [a if a.dtype.kind != "f" else a.copy() for a in inputs[1:]]
    em, tm = check_module(lambda nn: make(nn, _converter(nn, dtype)), inputs, dtype)
    assert repr(em) == repr(tm)
    for key, value in tm.state_dict().items():  # the weight buffers are copied as torch's
        assert_close(em.state_dict()[key], value, rtol=0, atol=0, what=key)


def _converter(nn, dtype):
    if nn is torch.nn:
        return lambda a: torch.tensor(a, dtype=TORCH_DTYPES[dtype])
    return lambda a: ember.tensor(a, dtype=EMBER_DTYPES[dtype])


def test_loss_buffers_and_legacy_arguments():
    weight = ember.tensor([1.0, 2.0, 3.0])
    loss = enn.CrossEntropyLoss(weight=weight)
    assert dict(loss.named_buffers())["weight"] is weight and list(loss.parameters()) == []
    both = enn.BCEWithLogitsLoss(weight=ember.ones(3), pos_weight=ember.ones(3))
    assert list(both.state_dict()) == list(torch.nn.BCEWithLogitsLoss(
        weight=torch.ones(3), pos_weight=torch.ones(3)).state_dict()) == ["weight", "pos_weight"]
    assert list(enn.BCEWithLogitsLoss().state_dict()) == []
    for kwargs in [dict(size_average=False), dict(reduce=False), dict(size_average=True, reduce=True)]:
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            ours = enn.MSELoss(**kwargs).reduction
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert ours == torch.nn.MSELoss(**kwargs).reduction
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        enn.L1Loss(reduction="bad")(ember.zeros(2), ember.zeros(2))


# ---- embedding --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 2}, {"padding_idx": -1, "scale_grad_by_freq": True},
                                    {"max_norm": 1.0}, {"max_norm": 2.0, "norm_type": 1.0}],
                         ids=lambda kw: ",".join(kw) or "plain")
def test_embedding_matches_torch(kwargs, dtype):
    indices = np.array([[0, 2, 2, 6], [1, 4, 2, 0]])
    em, tm = check_module(lambda nn: nn.Embedding(7, 3, **kwargs), [indices], dtype)
    # max_norm renormalised the looked-up rows of both weights in place
    assert_close(em.weight, tm.weight, what="weight after forward", **TOLERANCES[dtype])
    check_module(lambda nn: nn.Embedding(7, 1, **kwargs), [np.array([5])], dtype)


def test_embedding_from_pretrained_and_errors():
    table = ember.randn(4, 3)
    frozen = enn.Embedding.from_pretrained(table, padding_idx=1)
    assert frozen.weight.requires_grad is False and frozen.padding_idx == 1
    assert (frozen.weight.numpy() == table.numpy()).all()  # the padding row is kept, as torch
    table[0, 0] = 10.0
    assert frozen.weight.numpy()[0, 0] == 10.0  # shares the given tensor's memory, as torch
    trainable = enn.Embedding.from_pretrained(ember.randn(4, 3), freeze=False)
    trainable(ember.tensor([0, 3, 3])).sum().backward()
    np.testing.assert_array_equal(trainable.weight.grad.numpy()[:, 0], [1, 0, 0, 2])
    with pytest.raises(AssertionError, match="Embeddings parameter is expected to be 2-dimensional"):
        enn.Embedding.from_pretrained(ember.randn(4))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        enn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(AssertionError, match="Shape of weight does not match"):
        enn.Embedding(4, 2, _weight=ember.randn(3, 2))
    with pytest.raises(IndexError, match="index out of range"):
        enn.Embedding(4, 2)(ember.tensor([4]))


# ---- init ------------------------------------------------------------------------------------------

# weight shapes of a linear, conv1d, conv2d and conv3d layer: fan_in = shape[1] * receptive field
INIT_SHAPES = [(300, 200), (64, 8, 5), (32, 16, 3, 3), (16, 8, 2, 3, 3), (7, 600)]

INIT_CALLS = [
    ("uniform_", dict(a=-0.3, b=0.7)), ("normal_", dict(mean=0.5, std=0.2)),
    ("xavier_uniform_", {}), ("xavier_uniform_", dict(gain=2.0)), ("xavier_normal_", dict(gain=0.5)),
    ("kaiming_uniform_", {}), ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict(nonlinearity="tanh")), ("kaiming_normal_", dict(mode="fan_out", a=0.2)),
    ("kaiming_normal_", dict(mode="FAN_IN", nonlinearity="selu")),
    ("trunc_normal_", {}), ("trunc_normal_", dict(mean=1.0, std=2.0, a=-1.0, b=2.0)),
    ("trunc_normal_", dict(std=0.02, a=-0.04, b=0.04)),
]


@pytest.mark.parametrize("name, kwargs", INIT_CALLS, ids=[f"{n}-{k}" for n, k in INIT_CALLS])
def test_init_statistics_match_torch(name, kwargs):
    ember.manual_seed(0), torch.manual_seed(0)
    for shape in INIT_SHAPES:
        # float64 statistics: newer pytest refuses NumPy float32 tolerances in approx
        ours = getattr(einit, name)(ember.empty(*shape), **kwargs).numpy().astype(np.float64)
        theirs = getattr(torch.nn.init, name)(torch.empty(*shape), **kwargs).numpy().astype(np.float64)
        what = f"{name}({kwargs}) on {shape}"
        # thousands of samples: std, mean and range agree to a few percent (~4 standard errors)
        assert ours.std() == pytest.approx(theirs.std(), rel=0.06), what
        assert ours.mean() == pytest.approx(theirs.mean(), abs=0.15 * theirs.std()), what
        if "uniform" in name or "trunc" in name:  # bounded: the extremes sit at the bounds
            assert ours.min() == pytest.approx(theirs.min(), rel=0.03, abs=1e-3 * theirs.std()), what
            assert ours.max() == pytest.approx(theirs.max(), rel=0.03, abs=1e-3 * theirs.std()), what
        if name == "trunc_normal_":
            assert ours.min() >= kwargs.get("a", -2.0) and ours.max() <= kwargs.get("b", 2.0)


def test_trunc_normal_far_tail_and_warning():
    ember.manual_seed(0), torch.manual_seed(0)
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        ours = einit.trunc_normal_(ember.empty(5000), mean=0.0, std=1.0, a=5.0, b=6.0).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.init.trunc_normal_(torch.empty(5000), a=5.0, b=6.0).numpy()
    assert ours.min() >= 5.0 and ours.max() <= 6.0
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.02)
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        lower = einit.trunc_normal_(ember.empty(5000), a=-6.0, b=-5.0).numpy()
    assert lower.mean() == pytest.approx(-theirs.mean(), abs=0.02)


def test_fans_and_gains_match_torch():
    for shape in INIT_SHAPES + [(3, 4, 1, 1), (5, 0)]:
        assert einit._calculate_fan_in_and_fan_out(ember.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    for name in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]:
        assert einit.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-15)
    for param in (0.2, 1, 0):
        assert einit.calculate_gain("leaky_relu", param) == torch.nn.init.calculate_gain("leaky_relu", param)


def test_init_exact_fills():
    for shape in [(3, 5), (4, 4), (6, 2)]:
        np.testing.assert_array_equal(einit.eye_(ember.empty(*shape)).numpy(),
                                      torch.nn.init.eye_(torch.empty(*shape)).numpy())
    for shape, groups in [((4, 3, 3, 3), 1), ((6, 2, 3), 2), ((4, 4, 1, 3, 3), 2), ((2, 5, 3), 1)]:
        np.testing.assert_array_equal(einit.dirac_(ember.empty(*shape), groups).numpy(),
                                      torch.nn.init.dirac_(torch.empty(*shape), groups).numpy())
    assert (einit.constant_(ember.empty(2, 3), 0.7).numpy() == np.float32(0.7)).all()
    assert (einit.ones_(ember.empty(2)).numpy() == 1).all() and (einit.zeros_(ember.ones(2)).numpy() == 0).all()


@pytest.mark.parametrize("shape", [(5, 8), (8, 5), (6, 3, 2, 2), (4, 4)])
def test_orthogonal_init(shape):
    weight = einit.orthogonal_(ember.empty(*shape, dtype=ember.float64), gain=2.0).numpy()
    flat = weight.reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-12)


def test_orthogonal_is_haar_distributed():
    # sign correction by diag(R) makes the distribution uniform: E[Q] = 0 (without it, diag(Q) > 0)
    ember.manual_seed(0)
    diagonals = np.array([np.diag(einit.orthogonal_(ember.empty(4, 4)).numpy()) for _ in range(400)])
    assert abs(diagonals.mean()) < 0.05


def test_init_is_in_place_untracked_and_seeded():
    weight = enn.Parameter(ember.empty(20, 10))
    for fn in (einit.uniform_, einit.normal_, einit.xavier_uniform_, einit.kaiming_normal_,
               einit.trunc_normal_, einit.orthogonal_, einit.zeros_, einit.eye_):
        assert fn(weight) is weight
        assert weight.is_leaf and weight.grad_fn is None and weight.requires_grad
    view = ember.zeros(4, 6)
    einit.ones_(view[1:3])
    assert view.numpy().sum() == 12
    generator = ember.Generator().manual_seed(3)
    first = einit.kaiming_uniform_(ember.empty(5, 5), generator=generator).numpy()
    generator.manual_seed(3)
    np.testing.assert_array_equal(first, einit.kaiming_uniform_(ember.empty(5, 5), generator=generator).numpy())
    ember.manual_seed(11)
    first = enn.Linear(4, 3).weight.detach().numpy()
    ember.manual_seed(11)
    np.testing.assert_array_equal(first, enn.Linear(4, 3).weight.detach().numpy())
    assert einit.normal_(ember.empty(3, dtype=ember.float64)).dtype == ember.float64


def test_init_errors_match_torch():
    cases = [
        (lambda init, T: init.calculate_gain("foo"), ValueError, "Unsupported nonlinearity foo"),
        (lambda init, T: init.calculate_gain("leaky_relu", "x"), ValueError, "negative_slope x not a valid number"),
        (lambda init, T: init.xavier_uniform_(T(5)), ValueError,
         "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"),
        (lambda init, T: init.kaiming_uniform_(T(3, 4), mode="bad"), ValueError, "Mode bad not supported"),
        (lambda init, T: init.eye_(T(2, 2, 2)), ValueError, "Only tensors with 2 dimensions are supported"),
        (lambda init, T: init.orthogonal_(T(3)), ValueError, "Only tensors with 2 or more dimensions are supported"),
        (lambda init, T: init.dirac_(T(2, 2)), ValueError, "Only tensors with 3, 4, or 5 dimensions are supported"),
        (lambda init, T: init.dirac_(T(3, 2, 3), 2), ValueError, "dim 0 must be divisible by groups"),
    ]
    for call, error, message in cases:
        for init, T in ((einit, ember.empty), (torch.nn.init, torch.empty)):
            with pytest.raises(error, match=message):
                call(init, T)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        einit.kaiming_normal_(ember.empty(0, 3))


# ---- utils: clipping, parameter vectors ---------------------------------------------------------------

def _grad_pairs(seed, scale=3.0):
    rng = np.random.default_rng(seed)
    shapes_ = [(3, 4), (5,), (2, 1, 3)]
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes_]
    grads = [rng.standard_normal(s).astype(np.float32) * scale for s in shapes_]
    ours = [enn.Parameter(ember.tensor(a)) for a in arrays]
    theirs = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    for p, t, g in zip(ours, theirs, grads):
        p.grad, t.grad = ember.tensor(g), torch.tensor(g)
    ours[1].grad = theirs[1].grad = None  # a parameter without a gradient is skipped
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, float("inf"), 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = _grad_pairs(len(str(norm_type)))
    total = eutils.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, ember.Tensor) and total.shape == ()
    assert_close(total, expected, rtol=1e-6, atol=0, what="total norm")
    for p, t in zip(ours, theirs):
        if t.grad is None:
            assert p.grad is None
        else:
            assert_close(p.grad, t.grad, rtol=1e-6, atol=1e-7, what="clipped grad")


def test_clip_grad_norm_edge_cases():
    ours, theirs = _grad_pairs(1)
    # one tensor instead of an iterable, and a generator
    assert_close(eutils.clip_grad_norm_(ours[0], 1.0), torch.nn.utils.clip_grad_norm_(theirs[0], 1.0),
                 rtol=1e-6, atol=0, what="one tensor")
    assert_close(eutils.clip_grad_norm_((p for p in ours), 0.1), torch.nn.utils.clip_grad_norm_(
        (t for t in theirs), 0.1), rtol=1e-6, atol=0, what="generator")
    assert eutils.clip_grad_norm_([enn.Parameter(ember.zeros(2))], 1.0).item() == 0.0
    ours[0].grad = ember.tensor(np.full((3, 4), np.inf, np.float32))
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is "
                                           "non-finite"):
        eutils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    model = enn.Linear(3, 2)
    model(ember.randn(4, 3)).sum().backward()
    grad_before = model.weight.grad
    eutils.clip_grad_norm_(model.parameters(), 1e-3)
    assert model.weight.grad is grad_before  # scaled in place


def test_clip_grad_value_matches_torch():
    ours, theirs = _grad_pairs(2)
    assert eutils.clip_grad_value_(ours, 1.25) is None
    torch.nn.utils.clip_grad_value_(theirs, 1.25)
    for p, t in zip(ours, theirs):
        if t.grad is not None:
            assert_close(p.grad, t.grad, rtol=0, atol=0, what="clamped grad")
    assert np.abs(ours[0].grad.numpy()).max() == np.float32(1.25)


def test_parameters_to_vector_and_back():
    ours, theirs = _grad_pairs(3)
    vector = eutils.parameters_to_vector(ours)
    assert_close(vector, torch.nn.utils.parameters_to_vector(theirs), rtol=0, atol=0, what="vector")
    (vector * ember.arange(vector.numel(), dtype=ember.float32)).sum().backward()
    assert ours[2].grad is not None  # the vector is differentiable
    replacement = np.arange(vector.numel(), dtype=np.float32)
    eutils.vector_to_parameters(ember.tensor(replacement), ours)
    torch.nn.utils.vector_to_parameters(torch.tensor(replacement), theirs)
    for p, t in zip(ours, theirs):
        assert_close(p.detach(), t.detach(), rtol=0, atol=0, what="parameter from vector")
    assert ours[0].shape == (3, 4) and isinstance(ours[0], enn.Parameter)
    with pytest.raises(TypeError, match="expected ember.Tensor, but got: ndarray"):
        eutils.vector_to_parameters(replacement, ours)
    with pytest.raises(RuntimeError, match="expected a vector of at least 23 elements"):
        eutils.vector_to_parameters(ember.zeros(5), ours)
