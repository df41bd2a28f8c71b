"""Loss functions against PyTorch (every cross_entropy option combination), finite differences,
second derivatives and PyTorch's argument errors."""
import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F
from op_check import OpCase, parametrize_cases, positive, randn, random_shape

# kl_div's default 'mean' warns in both libraries (checked once, in test_kl_div_zero_targets_and_warnings)
pytestmark = pytest.mark.filterwarnings("ignore:.*'mean' divides the total loss:UserWarning")


def classification_samples(rng, dtype):
    """Logits with class-index targets: (N, C), (N, C, d), unbatched (C,); and class probabilities."""
    n, c, d = random_shape(rng, 3, 2, 4)
    probabilities = rng.dirichlet(np.ones(c), n).astype(dtype)
    return [[randn(rng, dtype, n, c), rng.integers(0, c, n)],
            [randn(rng, dtype, n, c, d), rng.integers(0, c, (n, d))],
            [randn(rng, dtype, c), np.array(rng.integers(0, c))],
            [randn(rng, dtype, n, c), probabilities]]


def index_samples(rng, dtype):
    return classification_samples(rng, dtype)[:3]


def weighted(name, **kwargs):
    """``name(input, target, weight.detach())``: PyTorch does not differentiate these weights (so
    neither does gradcheck: the input's gradient is checked against PyTorch's)."""
    return dict(ember_fn=lambda x, t, w: getattr(F, name)(x, t, w.detach(), **kwargs),
                torch_fn=lambda x, t, w: getattr(TF, name)(x, t, w.detach(), **kwargs), gradcheck=False)


def with_class_weights(samples):
    def make(rng, dtype):
        return [s + [positive(rng, dtype, s[0].shape[0 if s[0].ndim == 1 else 1])] for s in samples(rng, dtype)]
    return make


def regression_samples(rng, dtype):
    a, b = random_shape(rng, 2, 2, 4)
    return [[randn(rng, dtype, a, b), randn(rng, dtype, a, b)], [randn(rng, dtype, a), randn(rng, dtype, a)],
            [randn(rng, dtype), randn(rng, dtype)]]


def weighted_regression_samples(rng, dtype):
    return [s + [positive(rng, dtype, *s[0].shape)] for s in regression_samples(rng, dtype)]


def probability_samples(rng, dtype):
    a, b = random_shape(rng, 2, 2, 4)
    return [[positive(rng, dtype, a, b, low=0.05, high=0.95), rng.random((a, b)).astype(dtype)],
            [positive(rng, dtype, a, low=0.05, high=0.95), (rng.random(a) < 0.5).astype(dtype)]]


def logit_samples(rng, dtype):
    a, b = random_shape(rng, 2, 2, 4)
    return [[randn(rng, dtype, a, b) * 3, rng.random((a, b)).astype(dtype), positive(rng, dtype, a, b),
             positive(rng, dtype, b)],
            [randn(rng, dtype, a) * 3, (rng.random(a) < 0.5).astype(dtype), positive(rng, dtype, a),
             positive(rng, dtype, 1)]]


def kl_samples(rng, dtype):
    a, b = random_shape(rng, 2, 2, 4)
    return [[randn(rng, dtype, a, b), positive(rng, dtype, a, b, low=0.05, high=1.0)],
            [randn(rng, dtype, a), positive(rng, dtype, a, low=0.05, high=1.0)]]


def loss(name, samples, **options):
    """An OpCase of ``F.name`` against ``torch.nn.functional.name`` unless given other functions."""
    options.setdefault("ember_fn", getattr(F, name))
    options.setdefault("torch_fn", getattr(TF, name))
    return OpCase(name, samples, **options)


def bce_logits(**kwargs):
    """binary_cross_entropy_with_logits with (constant) weight and pos_weight from the sample."""
    return dict(ember_fn=lambda x, t, w, p: F.binary_cross_entropy_with_logits(
        x, t, w.detach(), pos_weight=p.detach(), **kwargs),
        torch_fn=lambda x, t, w, p: TF.binary_cross_entropy_with_logits(
        x, t, w.detach(), pos_weight=p.detach(), **kwargs), gradcheck=False)


CASES = [
    loss("cross_entropy", classification_samples),
    loss("cross_entropy", classification_samples, kwargs={"reduction": "none", "label_smoothing": 0.1}),
    OpCase("cross_entropy", with_class_weights(classification_samples), **weighted("cross_entropy")),
    loss("nll_loss", index_samples),
    loss("nll_loss", index_samples, kwargs={"reduction": "sum"}),
    OpCase("nll_loss", with_class_weights(index_samples), **weighted("nll_loss", reduction="none")),
    loss("mse_loss", regression_samples),
    loss("mse_loss", regression_samples, kwargs={"reduction": "none"}),
    loss("mse_loss", weighted_regression_samples,
         ember_fn=lambda x, t, w: F.mse_loss(x, t, weight=w), torch_fn=lambda x, t, w: TF.mse_loss(x, t, weight=w)),
    loss("l1_loss", regression_samples),
    loss("l1_loss", regression_samples, kwargs={"reduction": "sum"}),
    loss("l1_loss", weighted_regression_samples,
         ember_fn=lambda x, t, w: F.l1_loss(x, t, weight=w), torch_fn=lambda x, t, w: TF.l1_loss(x, t, weight=w)),
    loss("smooth_l1_loss", regression_samples),
    loss("smooth_l1_loss", regression_samples, kwargs={"beta": 0.5, "reduction": "none"}),
    loss("smooth_l1_loss", regression_samples, kwargs={"beta": 0.0}),
    loss("huber_loss", regression_samples),
    loss("huber_loss", regression_samples, kwargs={"delta": 0.4, "reduction": "sum"}),
    loss("huber_loss", weighted_regression_samples,
         ember_fn=lambda x, t, w: F.huber_loss(x, t, weight=w, delta=0.7),
         torch_fn=lambda x, t, w: TF.huber_loss(x, t, weight=w, delta=0.7)),
    loss("binary_cross_entropy", probability_samples),
    loss("binary_cross_entropy", probability_samples, kwargs={"reduction": "none"}),
    OpCase("binary_cross_entropy", lambda rng, dtype: [s + [positive(rng, dtype, *s[0].shape[-1:])]
                                                       for s in probability_samples(rng, dtype)],
           **weighted("binary_cross_entropy", reduction="sum")),
    loss("binary_cross_entropy_with_logits", lambda rng, dtype: [s[:2] for s in logit_samples(rng, dtype)]),
    OpCase("binary_cross_entropy_with_logits", logit_samples, **bce_logits()),
    OpCase("binary_cross_entropy_with_logits", logit_samples, **bce_logits(reduction="none")),
    loss("kl_div", kl_samples, kwargs={"reduction": "batchmean"}),
    loss("kl_div", kl_samples, kwargs={"reduction": "none"}),
    loss("kl_div", kl_samples, kwargs={"reduction": "sum", "log_target": True}),
    loss("kl_div", kl_samples),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


# ---- cross_entropy: every option against PyTorch ------------------------------------------------

def _classification(kind, rng, ignore_index):
    """Logits and target of one layout; with ignore_index set, some targets are ignored."""
    n, c, d = 4, 5, 3
    if kind == "probabilities":
        return rng.standard_normal((n, c)), rng.dirichlet(np.ones(c), n)
    shape = {"indices": (n,), "spatial": (n, d), "unbatched": ()}[kind]
    logits = rng.standard_normal({"indices": (n, c), "spatial": (n, c, d), "unbatched": (c,)}[kind])
    target = rng.integers(0, c, shape)
    if ignore_index is not None:
        target = np.where(rng.random(shape) < 0.4, ignore_index, target)
        target.reshape(-1)[0] = ignore_index  # at least one ignored
    return logits, target


COMBINATIONS = [(kind, weight, ignore, reduction, smoothing)
                for kind, weight, ignore, reduction, smoothing in itertools.product(
                    ["indices", "spatial", "unbatched", "probabilities"], [False, True], [None, -100, 2],
                    ["mean", "sum", "none"], [0.0, 0.25])
                if not (kind == "probabilities" and ignore is not None)]


@pytest.mark.parametrize("kind,weight,ignore,reduction,smoothing", COMBINATIONS)
def test_cross_entropy_every_option_matches_torch(kind, weight, ignore, reduction, smoothing):
    rng = np.random.default_rng(len(kind) * 100 + weight * 10 + (ignore or 0) + int(smoothing * 4))
    logits, target = _classification(kind, rng, ignore)
    kwargs = dict(reduction=reduction, label_smoothing=smoothing)
    if ignore is not None:
        kwargs["ignore_index"] = ignore
    class_weights = rng.uniform(0.2, 2.0, 5)
    differentiable_target = target.dtype.kind == "f"
    e_x, t_x = ember.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    e_t = ember.tensor(target, requires_grad=differentiable_target)
    t_t = torch.tensor(target, requires_grad=differentiable_target)
    result = F.cross_entropy(e_x, e_t, ember.tensor(class_weights) if weight else None, **kwargs)
    expected = TF.cross_entropy(t_x, t_t, torch.tensor(class_weights) if weight else None, **kwargs)
    np.testing.assert_allclose(result.detach().numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    seed = rng.standard_normal(expected.shape)
    leaves = [(e_x, t_x)] + ([(e_t, t_t)] if differentiable_target else [])
    grads = ember.autograd.grad(result, [e for e, _ in leaves], ember.tensor(seed))
    expected_grads = torch.autograd.grad(expected, [t for _, t in leaves], torch.tensor(seed))
    for g, expected_g in zip(grads, expected_grads):
        np.testing.assert_allclose(g.numpy(), expected_g.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_all_targets_ignored_matches_torch(reduction):
    logits, target = np.random.default_rng(0).standard_normal((3, 4)), np.full(3, -100)
    for name in ("cross_entropy", "nll_loss"):
        result = getattr(F, name)(ember.tensor(logits), ember.tensor(target), reduction=reduction)
        expected = getattr(TF, name)(torch.tensor(logits), torch.tensor(target), reduction=reduction)
        np.testing.assert_array_equal(result.numpy(), expected.numpy())  # mean: 0 / 0 = nan


def test_uint8_targets_and_legacy_reduction_flags_match_torch():
    logits, target = np.random.default_rng(1).standard_normal((3, 4)), np.array([0, 3, 1], np.uint8)
    np.testing.assert_allclose(F.cross_entropy(ember.tensor(logits), ember.tensor(target)).item(),
                               TF.cross_entropy(torch.tensor(logits), torch.tensor(target)).item())
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            result = F.nll_loss(ember.tensor(logits), ember.tensor(target), None, size_average, -100, reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = TF.nll_loss(torch.tensor(logits), torch.tensor(target), None, size_average, -100, reduce)
        np.testing.assert_allclose(result.numpy(), expected.numpy())


# ---- second derivatives ------------------------------------------------------------------------

def _leaf(*shape, seed=0):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_cross_entropy_double_backward():
    target = ember.tensor([1, 2, 0, 2])
    weight = ember.tensor([0.5, 2.0, 1.5], dtype=ember.float64)
    assert ember.autograd.gradgradcheck(
        lambda x: F.cross_entropy(x, target, weight, ignore_index=0, label_smoothing=0.2), [_leaf(4, 3)])
    assert ember.autograd.gradgradcheck(lambda x: F.cross_entropy(x, ember.tensor([[1, 0], [2, 2]]),
                                                                  reduction="none"), [_leaf(2, 3, 2)])
    probabilities = ember.tensor(np.random.default_rng(1).dirichlet(np.ones(3), 4), requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1),
                                        [_leaf(4, 3), probabilities])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_cross_entropy_double_backward_with_weights_and_ignored_rows(reduction):
    # (N, C) logits without label smoothing take the fused CrossEntropy Function
    target = ember.tensor([1, 2, -100, 0, 2])
    weight = ember.tensor([0.5, 2.0, 1.5], dtype=ember.float64)
    assert ember.autograd.gradgradcheck(lambda x: F.cross_entropy(x, target, reduction=reduction), [_leaf(5, 3)])
    assert ember.autograd.gradgradcheck(lambda x: F.cross_entropy(x, target, weight, reduction=reduction),
                                        [_leaf(5, 3, seed=1)])


@pytest.mark.parametrize("name,make", [
    ("nll_loss", lambda: (_leaf(4, 3), ember.tensor([0, 2, 1, 1]))),
    ("binary_cross_entropy", lambda: (ember.tensor([[0.2, 0.7], [0.9, 0.4]], dtype=ember.float64,
                                                   requires_grad=True), _leaf(2, 2, seed=1).sigmoid().detach())),
    ("binary_cross_entropy_with_logits", lambda: (_leaf(2, 3), _leaf(2, 3, seed=1).sigmoid().detach())),
    ("kl_div", lambda: (_leaf(2, 3), _leaf(2, 3, seed=1).sigmoid().detach())),
    ("smooth_l1_loss", lambda: (_leaf(2, 3), _leaf(2, 3, seed=1))),
    ("huber_loss", lambda: (_leaf(2, 3), _leaf(2, 3, seed=1))),
    ("mse_loss", lambda: (_leaf(2, 3), _leaf(2, 3, seed=1))),
])
def test_double_backward(name, make):
    # "none": every element's second derivative is checked, not just their sum's
    input, target = make()
    assert ember.autograd.gradgradcheck(lambda x: getattr(F, name)(x, target, reduction="none"), [input])


# ---- numerics at the edges -----------------------------------------------------------------------

def test_binary_cross_entropy_at_zero_and_one_matches_torch():
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.3])
    e_x, t_x = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    result = F.binary_cross_entropy(e_x, ember.tensor(t), reduction="none")
    expected = TF.binary_cross_entropy(t_x, torch.tensor(t), reduction="none")
    np.testing.assert_allclose(result.detach().numpy(), expected.detach().numpy())  # log clamped at -100
    (grad,) = ember.autograd.grad(result.sum(), e_x)
    (expected_grad,) = torch.autograd.grad(expected.sum(), t_x)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy())


def test_binary_cross_entropy_with_logits_is_stable_for_large_logits():
    x = np.array([-200.0, -50.0, 0.0, 50.0, 200.0], np.float32)
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
    pos_weight = np.full(5, 3.0, np.float32)
    e_x, t_x = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    result = F.binary_cross_entropy_with_logits(e_x, ember.tensor(t), pos_weight=ember.tensor(pos_weight))
    expected = TF.binary_cross_entropy_with_logits(t_x, torch.tensor(t), pos_weight=torch.tensor(pos_weight))
    np.testing.assert_allclose(result.item(), expected.item(), rtol=1e-6)
    (grad,) = ember.autograd.grad(result, e_x)
    (expected_grad,) = torch.autograd.grad(expected, t_x)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-6, atol=1e-7)


def test_kl_div_zero_targets_and_warnings():
    x, t = np.log(np.array([[0.2, 0.3, 0.5]])), np.array([[0.0, 0.4, 0.6]])
    result = F.kl_div(ember.tensor(x), ember.tensor(t), reduction="none")
    np.testing.assert_allclose(result.numpy(), TF.kl_div(torch.tensor(x), torch.tensor(t), reduction="none").numpy())
    assert result.numpy()[0, 0] == 0.0  # 0 log 0 = 0
    with pytest.warns(UserWarning, match="kl_div: reduction: 'mean' divides the total loss by both"):
        F.kl_div(ember.tensor(x), ember.tensor(t))
    with pytest.warns(UserWarning, match=r"mse_loss: Using a target size \(ember.Size\(\[3\]\)\) that is "
                                         r"different to the input size \(ember.Size\(\[2, 3\]\)\)"):
        F.mse_loss(ember.randn(2, 3), ember.randn(3))


# ---- argument errors ---------------------------------------------------------------------------

def _raises(error, match, fn, *args, **kwargs):
    with pytest.raises(error, match=match):
        fn(*args, **kwargs)


def test_class_index_errors():
    x = ember.randn(3, 5)
    _raises(ValueError, r"cross_entropy: Expected input batch_size \(3\) to match target batch_size \(4\)\. "
            r"\(input \(3, 5\), target \(4,\)\)", F.cross_entropy, x, ember.tensor([1, 2, 3, 4]))
    _raises(IndexError, r"cross_entropy: Target 7 is out of bounds\.", F.cross_entropy, x, ember.tensor([1, 7, 3]))
    _raises(IndexError, r"nll_loss: Target -3 is out of bounds\.", F.nll_loss, x, ember.tensor([1, -3, 3]))
    _raises(RuntimeError, "cross_entropy: expected target dtype to be Long or Byte, but got ember.float32",
            F.cross_entropy, x, ember.tensor([1.0, 2.0, 3.0]))
    _raises(RuntimeError, "nll_loss: expected target dtype to be Long or Byte, but got ember.int32",
            F.nll_loss, x, ember.tensor([1, 2, 3], dtype=ember.int32))
    _raises(RuntimeError, "cross_entropy: Expected floating point type for target with class probabilities, "
            "got ember.int64", F.cross_entropy, x, ember.zeros(3, 5, dtype=ember.int64))
    _raises(RuntimeError, r"cross_entropy: weight tensor should be defined either for all 5 classes or no "
            r"classes but got weight tensor of shape: \[4\]", F.cross_entropy, x, ember.tensor([1, 2, 3]),
            ember.ones(4))
    _raises(RuntimeError, r"cross_entropy: weight tensor should be defined either for all 5 classes",
            F.cross_entropy, x, ember.rand(3, 5), ember.ones(5, 1))
    _raises(RuntimeError, r"cross_entropy: label_smoothing must be between 0\.0 and 1\.0\. Got: 1\.5",
            F.cross_entropy, x, ember.tensor([1, 2, 3]), label_smoothing=1.5)
    _raises(RuntimeError, r"nll_loss: Expected target size \[2, 4\], got \[2, 5\]", F.nll_loss,
            ember.randn(2, 3, 4), ember.zeros(2, 5, dtype=ember.int64))
    _raises(RuntimeError, "cross_entropy: 0D or 1D target tensor expected, multi-target not supported",
            F.cross_entropy, x, ember.tensor([[1], [2], [3]]))
    _raises(ValueError, r"nll_loss: Expected 1 or more dimensions \(got 0\)", F.nll_loss, ember.tensor(1.0),
            ember.tensor(0))
    _raises(ValueError, "cross_entropy: avg is not a valid value for reduction", F.cross_entropy, x,
            ember.tensor([1, 2, 3]), reduction="avg")


def test_pointwise_loss_errors():
    x = ember.rand(3, 5)
    _raises(RuntimeError, r"mse_loss: The size of tensor a \(5\) must match the size of tensor b \(4\) at "
            r"non-singleton dimension 1 \(shapes \(3, 5\) and \(3, 4\)\)", F.mse_loss, x, ember.rand(3, 4))
    _raises(RuntimeError, r"kl_div: The size of tensor a \(5\)", F.kl_div, x, ember.rand(3, 4), reduction="sum")
    _raises(ValueError, r"mse_loss: Weights and input must have the same size \(weight \(5,\), input \(3, 5\)\)",
            F.mse_loss, x, x, weight=ember.ones(5))
    _raises(RuntimeError, "smooth_l1_loss does not support negative values for beta", F.smooth_l1_loss, x, x,
            beta=-1.0)
    _raises(RuntimeError, "huber_loss does not support non-positive values for delta", F.huber_loss, x, x,
            delta=0.0)
    _raises(ValueError, r"binary_cross_entropy: Using a target size \(ember.Size\(\[3, 1\]\)\) that is "
            r"different to the input size \(ember.Size\(\[3\]\)\)", F.binary_cross_entropy, ember.rand(3),
            ember.rand(3, 1))
    _raises(RuntimeError, r"binary_cross_entropy: all elements of input should be between 0 and 1",
            F.binary_cross_entropy, ember.tensor([1.5, 0.5]), ember.rand(2))
    _raises(RuntimeError, r"binary_cross_entropy: weight of shape \(4,\) does not broadcast to the loss shape "
            r"\(3, 5\)", F.binary_cross_entropy, x, x, ember.ones(4))
    _raises(ValueError, r"binary_cross_entropy_with_logits: Target size \(ember.Size\(\[3, 1\]\)\) must be the "
            r"same as input size \(ember.Size\(\[3\]\)\)", F.binary_cross_entropy_with_logits, ember.rand(3),
            ember.rand(3, 1))
    _raises(RuntimeError, r"binary_cross_entropy_with_logits: pos_weight of shape \(3,\) does not broadcast",
            F.binary_cross_entropy_with_logits, x, x, pos_weight=ember.ones(3))
    _raises(ValueError, "kl_div: mean_all is not a valid value for reduction", F.kl_div, x, x, reduction="mean_all")


# ---- kernels -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_is_the_same_with_every_kernel(dtype, reduction):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((37, 11)).astype(dtype) * 3
    target = rng.integers(0, 11, 37)
    target[::5] = -100
    class_weights = ember.tensor(rng.uniform(0.5, 2.0, 11).astype(dtype))

    def loss_and_grad(weight):
        x = ember.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, ember.tensor(target), weight, reduction=reduction)
        loss.backward(ember.ones_like(loss))
        return loss.detach().numpy(), x.grad.numpy()

    by_kernel = {}
    for name in ember.kernels.names("cross_entropy_forward", "cpu"):
        with ember.kernels.use(cross_entropy=name):
            by_kernel[name] = [loss_and_grad(None), loss_and_grad(class_weights)]
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for results in by_kernel.values():
        for result, expected in zip(results, by_kernel["numpy"]):
            for actual, reference in zip(result, expected):
                assert actual.dtype == reference.dtype
                np.testing.assert_allclose(actual, reference, **tolerance)
