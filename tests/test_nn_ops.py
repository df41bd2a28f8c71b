"""softmax, linear, dropout, embedding, normalize against PyTorch, finite differences and second
derivatives; dropout's statistics and seeding."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F
from op_check import OpCase, parametrize_cases, randn, random_shape


def softmax_samples(rng, dtype):
    a, b, c = random_shape(rng, 3, 2, 4)
    return [[randn(rng, dtype, a, b), 1], [randn(rng, dtype, a, b), 0], [randn(rng, dtype, a, b, c), -2],
            [randn(rng, dtype, a, 1, c), 1], [randn(rng, dtype, c), 0], [randn(rng, dtype), 0],
            [randn(rng, dtype, a, b) * 30, -1]]


def linear_samples(rng, dtype):
    n, i, o = random_shape(rng, 3, 2, 5)
    return [[randn(rng, dtype, n, i), randn(rng, dtype, o, i), randn(rng, dtype, o)],
            [randn(rng, dtype, 2, n, i), randn(rng, dtype, o, i), None],
            [randn(rng, dtype, i), randn(rng, dtype, o, i), randn(rng, dtype, o)],
            [randn(rng, dtype, n, i), randn(rng, dtype, o, i), randn(rng, dtype, n, o)],
            [randn(rng, dtype, 0, i), randn(rng, dtype, o, i), randn(rng, dtype, o)],
            [randn(rng, dtype, i), randn(rng, dtype, i), randn(rng, dtype)]]


def embedding_samples(rng, dtype):
    rows, dim = random_shape(rng, 2, 4, 6)
    return [[rng.integers(0, rows, (2, 5)), randn(rng, dtype, rows, dim)],
            [rng.integers(0, rows, (7,)), randn(rng, dtype, rows, dim)],
            [np.array(2), randn(rng, dtype, rows, dim)],
            [np.array([[0, 1, 1], [1, 3, 0]]), randn(rng, dtype, rows, dim)]]


def normalize_samples(rng, dtype):
    return [[randn(rng, dtype, 3, 4)], [randn(rng, dtype, 2, 3, 2)], [randn(rng, dtype, 5, 1)]]


def cosine_samples(rng, dtype):
    return [[randn(rng, dtype, 3, 4), randn(rng, dtype, 3, 4)], [randn(rng, dtype, 2, 3, 2), randn(rng, dtype, 3, 1)],
            [randn(rng, dtype, 4, 5), randn(rng, dtype, 5)]]


def with_dtype(name):
    """``name(x, dim, dtype=float64)`` in each library."""
    return dict(ember_fn=lambda x, d: getattr(F, name)(x, d, dtype=ember.float64),
                torch_fn=lambda x, d: getattr(TF, name)(x, d, dtype=torch.float64))


CASES = [
    OpCase("softmax", softmax_samples, ember_fn=F.softmax, torch_fn=TF.softmax),
    OpCase("softmax", softmax_samples, **with_dtype("softmax"), gradcheck=False, rtol=1e-6),
    OpCase("log_softmax", softmax_samples, ember_fn=F.log_softmax, torch_fn=TF.log_softmax),
    OpCase("log_softmax", softmax_samples, **with_dtype("log_softmax"), gradcheck=False, rtol=1e-6),
    OpCase("softmin", softmax_samples, ember_fn=F.softmin, torch_fn=TF.softmin),
    OpCase("linear", linear_samples, ember_fn=F.linear, torch_fn=TF.linear),
    OpCase("dropout", lambda rng, dtype: [[randn(rng, dtype, 3, 4)]], ember_fn=F.dropout, torch_fn=TF.dropout,
           kwargs={"training": False}),
    OpCase("dropout", lambda rng, dtype: [[randn(rng, dtype, 3, 4)]], ember_fn=F.dropout, torch_fn=TF.dropout,
           kwargs={"p": 1.0}),
    OpCase("embedding", embedding_samples, ember_fn=F.embedding, torch_fn=TF.embedding),
    # padding_idx and scale_grad_by_freq define the gradient: it is not the finite-difference one
    OpCase("embedding", embedding_samples, ember_fn=F.embedding, torch_fn=TF.embedding,
           kwargs={"padding_idx": 1}, gradcheck=False),
    OpCase("embedding", embedding_samples, ember_fn=F.embedding, torch_fn=TF.embedding,
           kwargs={"padding_idx": -1, "scale_grad_by_freq": True}, gradcheck=False),
    # max_norm renormalises the weight in place: finite differences cannot see that
    OpCase("embedding", embedding_samples, ember_fn=F.embedding, torch_fn=TF.embedding,
           kwargs={"max_norm": 1.0}, gradcheck=False),
    OpCase("embedding", embedding_samples, ember_fn=F.embedding, torch_fn=TF.embedding,
           kwargs={"max_norm": 1.5, "norm_type": 1.0}, gradcheck=False),
    OpCase("normalize", normalize_samples, ember_fn=F.normalize, torch_fn=TF.normalize),
    OpCase("normalize", normalize_samples, ember_fn=F.normalize, torch_fn=TF.normalize, kwargs={"p": 1.0, "dim": 0}),
    OpCase("normalize", normalize_samples, ember_fn=F.normalize, torch_fn=TF.normalize, kwargs={"p": 3.0, "dim": -1}),
    OpCase("cosine_similarity", cosine_samples, ember_fn=F.cosine_similarity, torch_fn=TF.cosine_similarity),
    OpCase("cosine_similarity", cosine_samples, ember_fn=F.cosine_similarity, torch_fn=TF.cosine_similarity,
           kwargs={"dim": -1}),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


def leaf(*shape, seed=0):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# ---- softmax -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_double_backward(name, dim):
    assert ember.autograd.gradgradcheck(lambda x: getattr(F, name)(x, dim), [leaf(3, 4)])


def test_softmax_is_stable_and_handles_infinities_like_torch():
    data = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -np.inf], [-np.inf, -np.inf, -np.inf],
                     [0.0, np.inf, 1.0]], np.float32)
    for name in ("softmax", "log_softmax"):
        np.testing.assert_allclose(getattr(F, name)(ember.tensor(data), 1).numpy(),
                                   getattr(TF, name)(torch.tensor(data), 1).numpy(), rtol=1e-6)
    probabilities = F.softmax(ember.tensor(data[:2]), 1).numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-6)
    assert probabilities[1, 2] == 0.0


def test_softmax_of_empty_and_zero_dim_tensors():
    assert F.softmax(ember.zeros(2, 0), 1).shape == (2, 0)
    assert F.log_softmax(ember.zeros(0, 3), 1).shape == (0, 3)
    assert F.softmax(ember.tensor(2.0), 0).item() == 1.0 and F.log_softmax(ember.tensor(2.0), -1).item() == 0.0


def test_softmax_methods_dtype_and_errors():
    x = ember.tensor([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_array_equal(x.softmax(1).numpy(), F.softmax(x, 1).numpy())
    np.testing.assert_array_equal(x.log_softmax(0).numpy(), F.log_softmax(x, 0).numpy())
    assert F.softmax(x, 1, dtype=ember.float64).dtype == ember.float64
    assert F.log_softmax(ember.tensor([1, 2]), 0, dtype=ember.float32).dtype == ember.float32
    with pytest.raises(IndexError, match=r"softmax: Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\], but got 2\)"):
        F.softmax(x, 2)
    with pytest.raises(NotImplementedError, match="log_softmax: not implemented for input of dtype ember.int64"):
        F.log_softmax(ember.tensor([1, 2]), 0)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((5, 7), -1), ((2, 5, 3, 4), 1), ((6, 3), 0), ((1, 40, 1), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_the_same_with_every_kernel(name, shape, dim, dtype):
    rng = np.random.default_rng(0)
    data, seed = (rng.standard_normal(shape) * 3).astype(dtype), rng.standard_normal(shape).astype(dtype)
    by_kernel = {}
    for kernel in ember.kernels.names(f"{name}_forward", "cpu"):
        with ember.kernels.use(**{name: kernel}):
            x = ember.tensor(data, requires_grad=True)
            out = getattr(F, name)(x, dim)
            out.backward(ember.tensor(seed))
            by_kernel[kernel] = out.detach().numpy(), x.grad.numpy()
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for result in by_kernel.values():
        for actual, expected in zip(result, by_kernel["numpy"]):
            assert actual.dtype == expected.dtype
            np.testing.assert_allclose(actual, expected, **tolerance)


def test_softmax_of_half_precision_stays_half():
    # float16 has no C++ kernel: the NumPy reference computes in float16, forward and backward
    x = ember.tensor(np.linspace(-3, 3, 12).reshape(3, 4), dtype=ember.float16, requires_grad=True)
    out = F.log_softmax(x, 1)
    out.sum().backward()
    assert out.dtype == ember.float16 and x.grad.dtype == ember.float16
    expected = TF.log_softmax(torch.tensor(np.linspace(-3, 3, 12).reshape(3, 4)), 1).numpy()
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=2e-3, atol=2e-3)


# ---- linear ------------------------------------------------------------------------------------

def test_linear_double_backward():
    x, w, b = leaf(2, 3, 4, seed=1), leaf(5, 4, seed=2), leaf(5, seed=3)
    assert ember.autograd.gradgradcheck(F.linear, [x, w, b])
    assert ember.autograd.gradgradcheck(lambda x, w, b: F.linear(x, w, b).tanh(), [x, w, b])
    assert ember.autograd.gradgradcheck(F.linear, [leaf(4, seed=4), leaf(4, seed=5)])  # 1-D weight


def test_linear_integer_and_noncontiguous_inputs():
    x, w = np.arange(6).reshape(2, 3), np.arange(12).reshape(4, 3)
    np.testing.assert_array_equal(F.linear(ember.tensor(x), ember.tensor(w)).numpy(), x @ w.T)
    wide = np.random.default_rng(0).standard_normal((6, 8))
    np.testing.assert_allclose(F.linear(ember.from_numpy(wide[:, ::2]), ember.from_numpy(wide[:4, 1::2])).numpy(),
                               wide[:, ::2] @ wide[:4, 1::2].T)


def test_linear_errors():
    with pytest.raises(RuntimeError, match=r"linear: mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\) "
                                           r"\(input \(2, 3\), weight \(5, 4\)\)"):
        F.linear(ember.randn(2, 3), ember.randn(5, 4))
    with pytest.raises(RuntimeError, match=r"linear: expected input and weight to have the same dtype, but got "
                                           r"ember.float32 and ember.float64"):
        F.linear(ember.randn(2, 3), ember.randn(5, 3, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r"linear: bias does not broadcast to the output shape \(2, 5\) "
                                           r"\(input \(2, 3\), weight \(5, 3\), bias \(4,\)\)"):
        F.linear(ember.randn(2, 3), ember.randn(5, 3), ember.randn(4))
    with pytest.raises(RuntimeError, match="linear: both arguments to linear need to be at least 1D, but they are 0D"):
        F.linear(ember.tensor(1.0), ember.randn(5, 1))


# ---- dropout -----------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_statistics_and_scaling(p):
    x = ember.ones(200, 500, requires_grad=True)
    y = F.dropout(x, p)
    values = y.detach().numpy()
    kept = values != 0
    assert abs(1 - kept.mean() - p) < 0.01  # 100,000 draws: the standard deviation is < 0.0016
    np.testing.assert_allclose(values[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(values.mean() - 1) < 0.05   # the expectation is unchanged
    (grad,) = ember.autograd.grad(y.sum(), x)
    np.testing.assert_array_equal(grad.numpy(), values)  # the gradient goes through the same mask


def test_dropout_is_reproducible_with_manual_seed():
    x = ember.ones(50, 40)
    ember.manual_seed(7)
    first = F.dropout(x, 0.5).numpy()
    second = F.dropout(x, 0.5).numpy()
    ember.manual_seed(7)
    again = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(first, again)
    assert (first != second).any()


def test_dropout_identity_cases_inplace_and_errors():
    x = ember.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert (F.dropout(x, 1.0).numpy() == 0).all()
    y = x.clone()
    out = F.dropout(y, 0.5, inplace=True)
    assert out is y and y._version_number == 1
    assert set(np.unique(y.numpy() / x.numpy()).round(5)) <= {0.0, 2.0}
    for p in (1.5, -0.1):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
            F.dropout(x, p)
    with pytest.raises(RuntimeError, match="dropout: expected a floating point input, got ember.int64"):
        F.dropout(ember.tensor([1, 2]), 0.5)


# ---- embedding ---------------------------------------------------------------------------------

def test_embedding_gradient_accumulates_repeats_and_skips_padding():
    weight = ember.ones(5, 3, requires_grad=True)
    indices = ember.tensor([[0, 2, 2], [4, 2, 0]])
    F.embedding(indices, weight, padding_idx=0).sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy()[:, 0], [0, 0, 3, 0, 1])
    weight.grad = None
    F.embedding(indices, weight, padding_idx=-1, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy()[:, 0], [1, 0, 1, 0, 0])  # each used row: count / count


def test_embedding_double_backward():
    weight = leaf(5, 3)
    indices = ember.tensor([[0, 2, 2], [4, 2, 0]])
    assert ember.autograd.gradgradcheck(lambda w: F.embedding(indices, w) ** 2, [weight])

    # padding_idx and scale_grad_by_freq define the gradient (it is not d/dweight), so check the
    # backward's own backward against finite differences in the incoming gradient instead
    def weight_grad(grad_output):
        out = F.embedding(indices, weight, padding_idx=2, scale_grad_by_freq=True)
        return ember.autograd.grad(out, weight, grad_output, create_graph=True)[0]

    assert ember.autograd.gradcheck(weight_grad, [leaf(2, 3, 3, seed=1)])


@pytest.mark.parametrize("options", [{}, {"padding_idx": 3}, {"padding_idx": 0, "scale_grad_by_freq": True}])
def test_embedding_is_the_same_with_every_kernel(options):
    rng = np.random.default_rng(0)
    weight_data, indices = rng.standard_normal((7, 40)), ember.tensor(rng.integers(0, 7, (30, 5)))
    seed = ember.tensor(rng.standard_normal((30, 5, 40)))
    grads = {}
    for kernel in ember.kernels.names("embedding_backward", "cpu"):
        with ember.kernels.use(embedding=kernel):
            weight = ember.tensor(weight_data, requires_grad=True)
            F.embedding(indices, weight, **options).backward(seed)
            grads[kernel] = weight.grad.numpy()
    for grad in grads.values():
        np.testing.assert_allclose(grad, grads["numpy"], rtol=1e-12, atol=1e-14)
    if "padding_idx" in options:
        assert (grads["numpy"][options["padding_idx"]] == 0).all()


def test_embedding_max_norm_renormalises_used_rows_in_place():
    data = np.random.default_rng(0).standard_normal((6, 4)) * 3
    weight, reference = ember.tensor(data), torch.tensor(data)
    indices = [1, 3, 3]
    F.embedding(ember.tensor(indices), weight, max_norm=1.0)
    TF.embedding(torch.tensor(indices), reference, max_norm=1.0)
    np.testing.assert_allclose(weight.numpy(), reference.numpy(), rtol=1e-12)
    norms = np.linalg.norm(weight.numpy(), axis=1)
    assert (norms[[1, 3]] <= 1.0).all() and (norms[[0, 2, 4, 5]] == np.linalg.norm(data, axis=1)[[0, 2, 4, 5]]).all()
    assert weight._version_number == 1


def test_embedding_errors():
    weight = ember.randn(4, 3)
    with pytest.raises(RuntimeError, match="embedding: Expected tensor for argument #1 'indices' to have one of "
                                           "the following scalar types: Long, Int; but got ember.float32"):
        F.embedding(ember.tensor([1.0, 2.0]), weight)
    with pytest.raises(IndexError, match=r"embedding: index out of range in self \(index 5 with num_embeddings 4\)"):
        F.embedding(ember.tensor([1, 5]), weight)
    with pytest.raises(IndexError, match=r"index out of range in self \(index -1"):
        F.embedding(ember.tensor([1, -1]), weight)
    with pytest.raises(AssertionError, match="embedding: Padding_idx must be within num_embeddings"):
        F.embedding(ember.tensor([1]), weight, padding_idx=4)
    with pytest.raises(RuntimeError, match=r"embedding: 'weight' must be 2-D \(input \(1,\), weight \(4,\)\)"):
        F.embedding(ember.tensor([1]), ember.randn(4))
    assert F.embedding(ember.tensor([1, 2], dtype=ember.int32), weight).shape == (2, 3)


# ---- normalize, cosine_similarity ---------------------------------------------------------------

def test_normalize_and_cosine_similarity_double_backward():
    assert ember.autograd.gradgradcheck(lambda x: F.normalize(x, dim=1), [leaf(3, 4)])
    assert ember.autograd.gradgradcheck(F.cosine_similarity, [leaf(3, 4, seed=1), leaf(3, 4, seed=2)])


def test_normalize_zero_vector_matches_torch():
    data = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    x, t = ember.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, expected = F.normalize(x), TF.normalize(t)
    np.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy())
    seed = np.array([[1.0, 2.0, 3.0], [0.5, 1.0, -1.0]])
    (grad,) = ember.autograd.grad(y, x, ember.tensor(seed))
    (expected_grad,) = torch.autograd.grad(expected, t, torch.tensor(seed))
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy())
    with pytest.raises(RuntimeError, match=r"cosine_similarity: The size of tensor a \(3\) must match the size "
                                           r"of tensor b \(4\)"):
        F.cosine_similarity(ember.randn(2, 3), ember.randn(2, 4))
