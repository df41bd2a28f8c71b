"""Elementwise ops against PyTorch and finite differences."""
import numpy as np
import pytest
import torch

import ember
from op_check import (OpCase, binary_samples, parametrize_cases, positive, randn, unary_samples)


def away_from(points, margin=0.1):
    """Samples kept ``margin`` away from the kinks at ``points`` (where finite differences fail)."""
    def make(rng, dtype, *shape):
        x = rng.standard_normal(shape) * 2
        for p in points:
            x = np.where(np.abs(x - p) < margin, p + margin * np.sign(x - p + 1e-12) * 2, x)
        return x.astype(dtype)
    return make


def nonzero(rng, dtype, *shape):
    x = rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)
    return x.astype(dtype)


def distinct_pair(rng, dtype):
    """Pairs for max/min-like ops without ties, where the derivative is defined."""
    return [[a, a + np.where(rng.random(a.shape) < 0.5, -0.5, 0.5).astype(dtype)]
            for a in (randn(rng, dtype, 3, 4), randn(rng, dtype, 5))]


CASES = [
    OpCase("add", binary_samples()),
    OpCase("add", binary_samples(), kwargs={"alpha": 2.5}),
    OpCase("sub", binary_samples()),
    OpCase("sub", binary_samples(), kwargs={"alpha": -0.5}),
    OpCase("subtract", binary_samples()),
    OpCase("mul", binary_samples()),
    OpCase("multiply", binary_samples()),
    OpCase("div", binary_samples(randn, nonzero)),
    OpCase("divide", binary_samples(randn, nonzero)),
    OpCase("true_divide", binary_samples(randn, nonzero)),
    OpCase("div", binary_samples(away_from(range(-6, 7), 0.15), nonzero), kwargs={"rounding_mode": "floor"},
           gradcheck=False),
    OpCase("div", binary_samples(away_from(range(-6, 7), 0.15), nonzero), kwargs={"rounding_mode": "trunc"},
           gradcheck=False),
    OpCase("floor_divide", binary_samples(randn, nonzero), grad=False),
    OpCase("remainder", binary_samples(randn, nonzero), gradcheck=False),
    OpCase("pow", binary_samples(positive, randn)),
    OpCase("pow", lambda rng, dtype: [[randn(rng, dtype, 3, 4), 2], [positive(rng, dtype, 5), -1.5],
                                      [randn(rng, dtype, 4), 3.0], [randn(rng, dtype, 2), 0]]),
    OpCase("pow", lambda rng, dtype: [[2.0, randn(rng, dtype, 3, 4)]]),
    OpCase("maximum", distinct_pair),
    OpCase("minimum", distinct_pair),
    OpCase("clone", unary_samples()),
    OpCase("neg", unary_samples()),
    OpCase("negative", unary_samples()),
    OpCase("positive", unary_samples()),
    OpCase("reciprocal", unary_samples(nonzero)),
    OpCase("abs", unary_samples(nonzero)),
    OpCase("sign", unary_samples(nonzero)),
    OpCase("exp", unary_samples()),
    OpCase("exp2", unary_samples()),
    OpCase("expm1", unary_samples()),
    OpCase("log", unary_samples(positive)),
    OpCase("log2", unary_samples(positive)),
    OpCase("log10", unary_samples(positive)),
    OpCase("log1p", unary_samples(positive)),
    OpCase("sqrt", unary_samples(positive)),
    OpCase("rsqrt", unary_samples(positive)),
    OpCase("square", unary_samples()),
    OpCase("sin", unary_samples()),
    OpCase("cos", unary_samples()),
    OpCase("tan", unary_samples(positive, low=-1.2, high=1.2)),
    OpCase("tanh", unary_samples()),
    OpCase("sigmoid", unary_samples()),
    OpCase("erf", unary_samples()),
    OpCase("floor", unary_samples(away_from(range(-6, 7))), gradcheck=False),
    OpCase("ceil", unary_samples(away_from(range(-6, 7))), gradcheck=False),
    OpCase("trunc", unary_samples(away_from(range(-6, 7))), gradcheck=False),
    OpCase("round", unary_samples(away_from(np.arange(-6.5, 7))), gradcheck=False),
    OpCase("clamp", unary_samples(away_from([-0.5, 0.5])), kwargs={"min": -0.5, "max": 0.5}),
    OpCase("clamp", unary_samples(away_from([0.2])), kwargs={"min": 0.2}),
    OpCase("clip", unary_samples(away_from([0.3])), kwargs={"max": 0.3}),
    OpCase("clamp", lambda rng, dtype: [[randn(rng, dtype, 3, 4), np.full((4,), -0.3, dtype),
                                         np.full((3, 1), 0.4, dtype)]],
           ember_fn=lambda x, lo, hi: ember.clamp(x, lo, hi), torch_fn=lambda x, lo, hi: torch.clamp(x, lo, hi)),
    OpCase("where", lambda rng, dtype: [[rng.random((3, 4)) < 0.5, randn(rng, dtype, 3, 4),
                                         randn(rng, dtype, 4)], [rng.random((2, 1)) < 0.5,
                                                                  randn(rng, dtype, 2, 3), 1.5]]),
    OpCase("lerp", lambda rng, dtype: [[randn(rng, dtype, 3, 4), randn(rng, dtype, 4),
                                        randn(rng, dtype, 3, 1)], [randn(rng, dtype, 5),
                                                                   randn(rng, dtype, 5), 0.3]]),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


@pytest.mark.parametrize("a_dtype,b_value,expected", [
    (np.int64, 2.5, "float32"), (np.float32, 2, "float32"), (np.int32, 2, "int32"),
    (np.bool_, 1, "int64"), (np.float16, 1.5, "float16"), (np.uint8, True, "uint8"),
])
def test_scalar_promotion_matches_torch(a_dtype, b_value, expected):
    a = np.ones((2, 3), a_dtype)
    result = ember.from_numpy(a) * b_value
    reference = torch.from_numpy(a) * b_value
    assert result.dtype.name == expected == str(reference.dtype).replace("torch.", "")


@pytest.mark.parametrize("dtype_a,dtype_b", [(np.float32, np.float64), (np.int64, np.float32),
                                             (np.int32, np.int64), (np.bool_, np.float16),
                                             (np.uint8, np.int8)])
def test_tensor_promotion_matches_torch(dtype_a, dtype_b):
    a, b = np.ones((2, 3), dtype_a), np.ones((3,), dtype_b)
    assert (ember.from_numpy(a) + ember.from_numpy(b)).dtype.name == \
        str((torch.from_numpy(a) + torch.from_numpy(b)).dtype).replace("torch.", "")


def test_zero_dim_tensor_does_not_promote_dimensioned_tensor():
    a = ember.ones(3)
    assert (a * ember.tensor(2.0, dtype=ember.float64)).dtype == ember.float32


def test_integer_true_division_gives_float():
    result = ember.tensor([3, 4]) / ember.tensor([2, 2])
    assert result.dtype == ember.float32 and result.tolist() == [1.5, 2.0]


def test_operators_and_reflected_operators():
    x = ember.tensor([1.0, 2.0, 4.0])
    assert (2 - x).tolist() == [1.0, 0.0, -2.0]
    assert (8 / x).tolist() == [8.0, 4.0, 2.0]
    assert (2 ** x).tolist() == [2.0, 4.0, 16.0]
    assert (-x).tolist() == [-1.0, -2.0, -4.0]
    assert (7 // x).tolist() == [7.0, 3.0, 1.0]
    assert (x % 3).tolist() == [1.0, 2.0, 1.0]


@pytest.mark.parametrize("scalar", [np.float64(2.5), np.float32(2.5), np.int64(3), np.bool_(True)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_numpy_scalars_promote_like_python_numbers(scalar, dtype):
    a = np.ones(3, dtype)
    assert (ember.from_numpy(a) * scalar).dtype.name == \
        str((torch.from_numpy(a) * scalar.item()).dtype).replace("torch.", "")


@pytest.mark.parametrize("zero_side", ["other", "input"])
@pytest.mark.parametrize("values", [[-1.0, 2.0, -3.5, 0.5, -2.0, 3.0, -4.0],              # fast path
                                    [-1.0, 2.0, np.inf, -np.inf, np.nan, -2.0, 3.0]])    # inf/NaN kept
def test_where_against_zero_matches_torch_with_signs_inf_and_nan(zero_side, values):
    values = np.array(values, np.float32)
    mask = np.array([True, False, True, True, True, False, False])
    args = lambda x, m: (m, x, 0.0) if zero_side == "other" else (m, 0.0, x)  # noqa: E731
    result = ember.where(*args(ember.from_numpy(values), ember.from_numpy(mask))).numpy()
    expected = torch.where(*args(torch.from_numpy(values), torch.from_numpy(mask))).numpy()
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(np.signbit(result), np.signbit(expected))
